// plain.mjs's server as a forkover app that passes an options object and loads no flag
// parser: what the launcher costs with forkover alone on top of the app (bench/run.mjs
// times it beside examples/hello.js, which loads commander for its own flags).
// Flags: --host H, --port N, --daemon, -p FILE, -l FILE, --workers N.
import http from 'node:http';
import { forkover } from 'forkover';
import hello from '../lib/handler.cjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const daemon = await forkover({ daemon: process.argv.includes('--daemon'), pidfile: arg('-p'), logfile: arg('-l'), workers: Number(arg('--workers', '1')) });
daemon.listen(http.createServer(hello), { host: arg('--host', '127.0.0.1'), port: Number(arg('--port', '0')), name: 'http' });
await daemon.ready();
