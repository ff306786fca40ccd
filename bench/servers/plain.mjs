// Baseline: one plain Node process with examples/hello.js's handler (bench/lib/handler.cjs), no forkover.
// Prints "listening <port>" once it accepts. Flags: --host H (a loopback address), --port N.
// It imports nothing of forkover, so it is also the unmodified app that bench/start.mjs
// runs under `forkover start`.
import http from 'node:http';
import hello from '../lib/handler.cjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const server = http.createServer(hello);
server.listen({ host: arg('--host', '127.0.0.1'), port: Number(arg('--port', '0')) }, () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
