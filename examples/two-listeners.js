#!/usr/bin/env node
// Two listeners in one daemon: the public site and an admin endpoint, on separate ports.
// Each gets a `name`; a new generation adopts each socket by name, so adding, removing
// or reordering servers in a new version never mixes them up.
//   public  GET /        200 "public <pid>\n"
//   admin   GET /status  200 {"pid":…,"uptimeSeconds":…}
// Flags: --port N (default 8080), --admin-port N (default 8081), --host H (both), and
// every forkover flag.
import http from 'node:http';
import { Command, InvalidArgumentError } from 'commander';
import { forkover, addForkoverOptions } from 'forkover';

const program = addForkoverOptions(new Command('two-listeners.js'))
  .option('--port <n>', 'public TCP port (0 picks a free one)', portNumber, 8080)
  .option('--admin-port <n>', 'admin TCP port (0 picks a free one)', portNumber, 8081)
  .option('--host <h>', 'address both listen on (default: all interfaces)')
  .parse();
const { port, adminPort, host } = program.opts();

const daemon = await forkover(program);

const site = http.createServer((_req, res) => res.end(`public ${process.pid}\n`));
const admin = http.createServer((req, res) => {
  if (req.url !== '/status') {
    res.statusCode = 404;
    res.end('not found\n');
    return;
  }
  res.setHeader('content-type', 'application/json');
  res.end(`${JSON.stringify({ pid: process.pid, uptimeSeconds: Math.round(process.uptime()) })}\n`);
});

const where = host ? { host } : {};
daemon.listen(site, { port, ...where, name: 'public' });
daemon.listen(admin, { port: adminPort, ...where, name: 'admin' });
await daemon.ready();

function portNumber(v) {
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`--port takes a whole number from 0 to 65535, not "${v}"`);
  return n;
}

// Try:
//   node examples/two-listeners.js --port 8080 --admin-port 8081 --host 127.0.0.1 \
//     --daemon -p /tmp/two.pid -l /tmp/two.log
//   curl http://127.0.0.1:8080/ ; curl http://127.0.0.1:8081/status
//   node bin/forkover.js status -p /tmp/two.pid         # listener public: …, listener admin: …
//   node bin/forkover.js reload -p /tmp/two.pid
//   node bin/forkover.js stop -p /tmp/two.pid
