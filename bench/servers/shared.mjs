// Baseline: N plain Node processes accepting on one shared listening fd, the smallest
// sketch of what `--workers N` does (no readiness protocol, no pidfile, no handoff).
// The first process binds and spawns N-1 copies of itself with the socket at fd 3; each
// exits when its stdin (a pipe from the first) closes. Prints "listening <port> <pids>"
// once every process accepts. Flags: --host H, --port N, --procs N (default 2).
import http from 'node:http';
import hello from '../lib/handler.cjs';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const server = http.createServer(hello);

if (process.argv.includes('--child')) {
  process.stdin.on('data', () => {}).on('end', () => process.exit(0));
  server.listen({ fd: 3 }, () => process.stdout.write('ready\n'));
} else {
  const procs = Number(arg('--procs', '2'));
  server.listen({ host: arg('--host', '127.0.0.1'), port: Number(arg('--port', '0')) }, async () => {
    // Node internals: the listening fd lives on the libuv handle; no public accessor.
    const fd = server._handle.fd;
    const kids = Array.from({ length: procs - 1 }, () =>
      spawn(process.execPath, [fileURLToPath(import.meta.url), '--child'], { stdio: ['pipe', 'pipe', 'inherit', fd] }),
    );
    await Promise.all(kids.map((k) => new Promise((resolve) => k.stdout.once('data', resolve))));
    process.stdout.write(`listening ${server.address().port} ${[process.pid, ...kids.map((k) => k.pid)].join(',')}\n`);
  });
}
