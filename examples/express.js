#!/usr/bin/env node
// An Express 5 app under forkover: build the app as usual, wrap it in http.createServer,
// and register that server with the daemon instead of calling app.listen().
//   GET /            200 "express <pid>\n"
//   GET /slow?ms=N   200 "slow <pid>\n" after N ms (at most 60 s)
// Flags: --port N (default 8080), --host H (default: all interfaces), and every forkover
// flag (--daemon, -p, -l, --name, --drain-timeout, …).
import http from 'node:http';
import { Command, InvalidArgumentError } from 'commander';
import express from 'express';
import { forkover, addForkoverOptions } from 'forkover';

const program = addForkoverOptions(new Command('express.js'))
  .option('--port <n>', 'TCP port to listen on (0 picks a free one)', portNumber, 8080)
  .option('--host <h>', 'address to listen on (default: all interfaces)')
  .parse();
const { port, host } = program.opts();

// Before anything else: with --daemon this process becomes the launcher and never
// gets past this line.
const daemon = await forkover(program);

const app = express();
app.get('/', (_req, res) => {
  res.type('text/plain').send(`express ${process.pid}\n`);
});
app.get('/slow', (req, res) => {
  const ms = Math.min(Number(req.query.ms) || 0, 60_000);
  setTimeout(() => res.type('text/plain').send(`slow ${process.pid}\n`), ms);
});

// Not app.listen(): forkover binds the socket, or adopts the previous generation's.
daemon.listen(http.createServer(app), { port, ...(host ? { host } : {}), name: 'http' });
await daemon.ready();

function portNumber(v) {
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`--port takes a whole number from 0 to 65535, not "${v}"`);
  return n;
}

// Try:
//   node examples/express.js --port 8080 --daemon -p /tmp/express.pid -l /tmp/express.log
//   curl http://127.0.0.1:8080/
//   node bin/forkover.js reload -p /tmp/express.pid      # "express <new pid>" from now on
//   node bin/forkover.js stop -p /tmp/express.pid
