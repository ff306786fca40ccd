// plain.mjs's server as a forkover app that passes an options object and loads no flag
// parser: what the launcher costs with forkover alone on top of the app (bench/run.mjs
// times it beside examples/hello.js, which loads commander for its own flags).
// Flags (parsed here, nothing else accepted): --host H --port N --daemon -p FILE -l FILE --workers N.
import http from 'node:http';
import { forkover } from 'forkover';
import hello from '../lib/handler.cjs';

const known = new Set(['--host', '--port', '-p', '-l', '--workers']);
const opts = { host: '127.0.0.1', port: 0, daemon: false, pidfile: undefined, logfile: undefined, workers: 1 };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--daemon') opts.daemon = true;
  else if (known.has(a) && i + 1 < argv.length) {
    const v = argv[++i];
    if (a === '--host') opts.host = v;
    else if (a === '--port') opts.port = Number(v);
    else if (a === '-p') opts.pidfile = v;
    else if (a === '-l') opts.logfile = v;
    else opts.workers = Number(v);
  } else {
    process.stderr.write(`options.mjs: unknown or incomplete flag ${JSON.stringify(a)}; it takes --host, --port, --daemon, -p, -l and --workers\n`);
    process.exit(2);
  }
}
const daemon = await forkover({ daemon: opts.daemon, pidfile: opts.pidfile, logfile: opts.logfile, workers: opts.workers });
daemon.listen(http.createServer(hello), { host: opts.host, port: opts.port, name: 'http' });
await daemon.ready();
