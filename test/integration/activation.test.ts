// Socket activation without systemd (contracts R5.1-R5.4): a listening socket made by
// the test is passed at fd 3 the way systemd passes it, with LISTEN_PID set to the
// exact PID of the process that gets it by the R5.3 wrapper
//   /bin/sh -c 'LISTEN_PID=$$ exec "$0" "$@"'
// The same under a real systemd (.socket units, foreground and Type=forking) is in
// systemd.test.ts.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { alive, cleanup, fixture, get, start, tmpdir, track, waitForOutput, waitUntil } from '../helpers/util.js';

afterEach(cleanup);

const APP = fixture('systemd-app.mjs');
const WRAP = 'LISTEN_PID=$$ exec "$0" "$@"';

/** A listening socket on 127.0.0.1 that this process never accepts on. */
async function activatedSocket(): Promise<{ server: net.Server; port: number; fd: number }> {
  const server = net.createServer();
  servers.push(server);
  server.on('connection', (c) => c.destroy()); // never reached: closed right after the spawn
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  // Node internals: the listening fd, to hand to spawn() as a plain fd number (stdio[3]).
  const fd = (server as unknown as { _handle: { fd: number } })._handle.fd;
  return { server, port: (server.address() as net.AddressInfo).port, fd };
}
const servers: net.Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

const fd3 = (pid: number) => fs.readlinkSync(`/proc/${pid}/fd/3`);

test('foreground: the activated socket is adopted at fd 3 and survives a handoff at fd 3 (R5.1-R5.4)', async () => {
  const dir = tmpdir();
  const { server, port, fd } = await activatedSocket();
  const app = start('/bin/sh', ['-c', WRAP, process.execPath, APP, '--port', '0', '--host', '127.0.0.1', '-p', path.join(dir, 'app.pid')], {
    stdio: ['ignore', 'pipe', 'pipe', fd],
    env: { ...process.env, LISTEN_FDS: '1', LISTEN_FDNAMES: 'web.socket' },
  });
  server.close(); // the child holds its own copy; connections now go to it only
  const pid1 = app.pid!;
  track(pid1);
  await waitForOutput(app, /ready: .* listening on 127\.0\.0\.1:(\d+)/);
  // Its own --port 0 was not bound: the one socket went to the one server (planAdoption).
  expect(app.output()).toContain(`listening on 127.0.0.1:${port}`);
  expect((await get(port)).body).toBe(`hello from ${pid1}\n`);
  expect((await get(port, '/env')).body).toBe('[]\n'); // LISTEN_* removed once read (R5.1)
  const socket = fd3(pid1);
  expect(socket).toMatch(/^socket:\[\d+\]$/);

  process.kill(pid1, 'SIGUSR2');
  const pid2 = Number((await waitForOutput(app, /handoff 1: PID (\d+) serves/))[1]);
  track(pid2);
  await waitUntil(() => !alive(pid1), 10_000, 'the old generation to exit');
  expect((await get(port)).body).toBe(`hello from ${pid2}\n`);
  expect(fd3(pid2)).toBe(socket); // same socket, same fd number, every generation (R5.3, R5.4)
  const environ = fs.readFileSync(`/proc/${pid2}/environ`, 'utf8');
  expect(environ).not.toMatch(/(^|\0)LISTEN_/); // never passed on (R1.6)
});

test('--daemon: the launcher is the activated process and re-maps fd 3 into the daemon (R5.3)', async () => {
  const dir = tmpdir();
  const { server, port, fd } = await activatedSocket();
  const pidfile = path.join(dir, 'app.pid');
  const launcher = start(
    '/bin/sh',
    ['-c', WRAP, process.execPath, APP, '--port', '0', '--host', '127.0.0.1', '--daemon', '-p', pidfile, '-l', path.join(dir, 'app.log')],
    { stdio: ['ignore', 'pipe', 'pipe', fd], env: { ...process.env, LISTEN_FDS: '1' } },
  );
  server.close();
  const code = await new Promise<number | null>((resolve) => launcher.once('exit', (c) => resolve(c)));
  const pid = Number(fs.readFileSync(pidfile, 'utf8'));
  track(pid);
  expect({ code, out: launcher.output() }).toEqual({ code: 0, out: expect.stringContaining(`listening on 127.0.0.1:${port}`) });
  expect((await get(port)).body).toBe(`hello from ${pid}\n`);
  expect(fd3(pid)).toMatch(/^socket:\[\d+\]$/);
  expect(fs.readFileSync(`/proc/${pid}/environ`, 'utf8')).not.toMatch(/(^|\0)LISTEN_/);
});

test('LISTEN_PID naming another process: not activated, the app binds its own address (R5.1)', async () => {
  const dir = tmpdir();
  const { server, port, fd } = await activatedSocket();
  const app = start(process.execPath, [APP, '--port', '0', '--host', '127.0.0.1', '-p', path.join(dir, 'app.pid')], {
    stdio: ['ignore', 'pipe', 'pipe', fd],
    env: { ...process.env, LISTEN_FDS: '1', LISTEN_PID: String(process.pid) },
  });
  track(app.pid);
  const own = Number((await waitForOutput(app, /listening on 127\.0\.0\.1:(\d+)/))[1]);
  server.close();
  expect(own).not.toBe(port);
  expect((await get(own)).body).toBe(`hello from ${app.pid}\n`);
});

test('LISTEN_FDNAMES that does not match LISTEN_FDS: a start-up error naming the fix, exit 1', async () => {
  const dir = tmpdir();
  const { server, fd } = await activatedSocket();
  const app = start('/bin/sh', ['-c', WRAP, process.execPath, APP, '--port', '0', '-p', path.join(dir, 'app.pid')], {
    stdio: ['ignore', 'pipe', 'pipe', fd],
    env: { ...process.env, LISTEN_FDS: '1', LISTEN_FDNAMES: 'a:b' },
  });
  server.close();
  const code = await new Promise<number | null>((resolve) => app.once('exit', (c) => resolve(c)));
  expect(code).toBe(1);
  expect(app.output()).toMatch(/LISTEN_FDNAMES names 2 sockets but LISTEN_FDS says 1 .*FileDescriptorName=/);
  expect(fs.existsSync(path.join(dir, 'app.pid'))).toBe(false);
});
