#!/usr/bin/env node
// The first thing to run: an HTTP server that forkover daemonizes and hands over.
//   GET /            200 "hello from <pid>\n"
//   GET /slow?ms=N   200 "slow <pid>\n" after N ms
// Flags: --port N (default 8080), --host H (default: all interfaces), and every forkover
// flag (--daemon, -p, -l, --name, --start-timeout, --drain-timeout, --upgrade-timeout, …).
import http from 'node:http';
import { Command, InvalidArgumentError } from 'commander';
import { forkover, addForkoverOptions } from 'forkover';

const program = addForkoverOptions(new Command('hello.js'))
  .option('--port <n>', 'TCP port to listen on (0 picks a free one)', (v) => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`--port takes a whole number from 0 to 65535, not "${v}"`);
    return n;
  }, 8080)
  .option('--host <h>', 'address to listen on (default: all interfaces)')
  .parse();
const { port, host } = program.opts();

const daemon = await forkover(program);

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (url.pathname === '/slow') {
    const ms = Math.min(Number(url.searchParams.get('ms')) || 0, 600_000);
    setTimeout(() => res.end(`slow ${process.pid}\n`), ms);
    return;
  }
  res.end(`hello from ${process.pid}\n`);
});

daemon.listen(server, { port, ...(host ? { host } : {}), name: 'http' });
await daemon.ready();

// Try:
//   node examples/hello.js --port 0                                  # foreground, Ctrl-C stops
//   node examples/hello.js --port 8080 --daemon -p /tmp/hello.pid -l /tmp/hello.log
//   curl http://127.0.0.1:8080/ ; curl 'http://127.0.0.1:8080/slow?ms=2000'
//   node bin/forkover.js status -p /tmp/hello.pid
//   node bin/forkover.js reload -p /tmp/hello.pid                    # new PID, no dropped request
//   node bin/forkover.js stop -p /tmp/hello.pid
