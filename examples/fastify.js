#!/usr/bin/env node
// A Fastify 5 app under forkover. Fastify creates its http.Server itself (app.server);
// after `await app.ready()` the routes are attached to it, and forkover binds or adopts
// its socket. Do not call app.listen().
//   GET /            200 "fastify <pid>\n"
//   GET /slow?ms=N   200 "slow <pid>\n" after N ms (at most 60 s)
// Flags: --port N (default 8080), --host H, and every forkover flag.
import { setTimeout as delay } from 'node:timers/promises';
import { Command, InvalidArgumentError } from 'commander';
import Fastify from 'fastify';
import { forkover, addForkoverOptions } from 'forkover';

const program = addForkoverOptions(new Command('fastify.js'))
  .option('--port <n>', 'TCP port to listen on (0 picks a free one)', portNumber, 8080)
  .option('--host <h>', 'address to listen on (default: all interfaces)')
  .parse();
const { port, host } = program.opts();

const daemon = await forkover(program);

const app = Fastify();
app.get('/', async (_req, reply) => {
  reply.type('text/plain');
  return `fastify ${process.pid}\n`;
});
app.get('/slow', async (req, reply) => {
  await delay(Math.min(Number(req.query.ms) || 0, 60_000));
  reply.type('text/plain');
  return `slow ${process.pid}\n`;
});
await app.ready(); // plugins loaded, routes attached to app.server

// Not `daemon.onDrain(() => app.close())`: while closing, Fastify answers 503 (its
// return503OnClosing) and closes idle keep-alive connections, which resets a request a
// client is sending on one; forkover's drain finishes the requests instead.
daemon.listen(app.server, { port, ...(host ? { host } : {}), name: 'http' });
await daemon.ready();

function portNumber(v) {
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`--port takes a whole number from 0 to 65535, not "${v}"`);
  return n;
}

// Try:
//   node examples/fastify.js --port 8080 --daemon -p /tmp/fastify.pid -l /tmp/fastify.log
//   curl http://127.0.0.1:8080/
//   node bin/forkover.js reload -p /tmp/fastify.pid
//   node bin/forkover.js stop -p /tmp/fastify.pid
