#!/usr/bin/env node
// An HTTP server on a unix-domain socket (behind nginx or another proxy, say). forkover
// binds the path under a temporary name and renames it into place, so the path always
// answers: the old generation closing its listener never unlinks the file its successor
// serves, and a stale socket file left by a killed daemon is replaced.
//   GET /            200 "unix <pid>\n"
//   GET /slow?ms=N   200 "slow <pid>\n" after N ms (at most 60 s)
// Flags: --socket PATH (required), and every forkover flag.
import http from 'node:http';
import path from 'node:path';
import { Command } from 'commander';
import { forkover, addForkoverOptions } from 'forkover';

const program = addForkoverOptions(new Command('unix-socket.js'))
  .requiredOption('--socket <path>', 'unix socket path to listen on')
  .parse();

const daemon = await forkover(program);
// A daemon runs in / (contracts R1.8): a relative path means the launch directory.
const socketPath = path.resolve(daemon.settings.cwd, program.opts().socket);

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (url.pathname === '/slow') {
    const ms = Math.min(Number(url.searchParams.get('ms')) || 0, 60_000);
    setTimeout(() => res.end(`slow ${process.pid}\n`), ms);
    return;
  }
  res.end(`unix ${process.pid}\n`);
});

daemon.listen(server, { path: socketPath, name: 'unix' });
await daemon.ready();

// Try:
//   node examples/unix-socket.js --socket /tmp/app.sock --daemon -p /tmp/unix.pid -l /tmp/unix.log
//   curl --unix-socket /tmp/app.sock http://localhost/
//   node bin/forkover.js reload -p /tmp/unix.pid        # the path never stops answering
//   node bin/forkover.js stop -p /tmp/unix.pid          # removes /tmp/app.sock
