#!/usr/bin/env node
// A Koa 3 app under forkover: app.callback() is a plain request listener, so the server
// is an ordinary http.Server that forkover binds or adopts.
//   GET /            200 "koa <pid>\n"
//   GET /slow?ms=N   200 "slow <pid>\n" after N ms (at most 60 s)
// Flags: --port N (default 8080), --host H, and every forkover flag.
import http from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { Command, InvalidArgumentError } from 'commander';
import Koa from 'koa';
import { forkover, addForkoverOptions } from 'forkover';

const program = addForkoverOptions(new Command('koa.js'))
  .option('--port <n>', 'TCP port to listen on (0 picks a free one)', portNumber, 8080)
  .option('--host <h>', 'address to listen on (default: all interfaces)')
  .parse();
const { port, host } = program.opts();

const daemon = await forkover(program);

const app = new Koa();
app.use(async (ctx) => {
  if (ctx.path === '/slow') {
    await delay(Math.min(Number(ctx.query.ms) || 0, 60_000));
    ctx.body = `slow ${process.pid}\n`;
    return;
  }
  ctx.body = `koa ${process.pid}\n`;
});

daemon.listen(http.createServer(app.callback()), { port, ...(host ? { host } : {}), name: 'http' });
await daemon.ready();

function portNumber(v) {
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`--port takes a whole number from 0 to 65535, not "${v}"`);
  return n;
}

// Try:
//   node examples/koa.js --port 8080 --daemon -p /tmp/koa.pid -l /tmp/koa.log
//   curl http://127.0.0.1:8080/
//   kill -USR2 "$(cat /tmp/koa.pid)"                     # asynchronous handoff
//   node bin/forkover.js status -p /tmp/koa.pid --json
//   node bin/forkover.js stop -p /tmp/koa.pid
