// plain.mjs's server as a forkover app that passes an options object and loads no flag
// parser: plain.mjs plus forkover and nothing else, so the start-up targets (bench/run.mjs,
// bench/handoff.mjs) time what forkover adds to a process's start, against plain.mjs
// itself. examples/hello.js adds commander, the app's own flag parser, in every process
// (the suite times it beside this one, for reference).
// Flags: --host H, --port N, --daemon, -p FILE, -l FILE, --workers N, --name T,
// --max-draining N, --drain-timeout S, --standby.
import http from 'node:http';
import { forkover } from 'forkover';
import hello from '../lib/handler.cjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const num = (name) => (arg(name) === undefined ? undefined : Number(arg(name)));
const daemon = await forkover({
  daemon: process.argv.includes('--daemon'),
  pidfile: arg('-p'),
  logfile: arg('-l'),
  name: arg('--name'),
  workers: num('--workers'),
  maxDraining: num('--max-draining'),
  drainTimeout: num('--drain-timeout'),
  standby: process.argv.includes('--standby'),
});
daemon.listen(http.createServer(hello), { host: arg('--host', '127.0.0.1'), port: Number(arg('--port', '0')), name: 'http' });
await daemon.ready();
