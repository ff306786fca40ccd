// Issue 5, item 5: inherited input that does not add up (contracts R5.1, R5.2, R1.9).
// The fixture app is started the way a handoff's parent starts it (FORKOVER_ROLE=child,
// FORKOVER_FDS names the listeners at fds 3…, FORKOVER_READY_FD after them), or the way
// systemd activates it (LISTEN_*), with the fds mapped by hand. Wrong metadata must give a
// clear error, a FAIL line on the channel and a non-zero exit, never a server on the wrong socket.
import { spawn, type StdioOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { once } from 'node:events';
import { serverFd } from '../../src/listeners.js';
import { cleanup, fixture, get, procStat, start, tmpdir, track, waitForOutput } from '../helpers/util.js';

const APP = fixture('app.mjs');
const open: (net.Server | net.Socket)[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) {
    if (s instanceof net.Socket) s.destroy();
    else s.close();
  }
  await cleanup();
});

let seq = 0;
const title = () => `ih${process.pid % 10000}x${++seq}`;

/** A listening socket's fd, for stdio mapping (the one place that knows it: listeners.ts). */
const fdOf = (s: net.Server | net.Socket): number => (s instanceof net.Server ? serverFd(s) : (s as unknown as { _handle: { fd: number } })._handle.fd);

async function listener(): Promise<net.Server> {
  const s = net.createServer((c) => {
    c.on('error', () => {});
    c.end('test-process\n');
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  open.push(s);
  return s;
}
const portOf = (s: net.Server) => (s.address() as net.AddressInfo).port;

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  channel: string;
  stderr: string;
}

/**
 * Start the fixture as a handoff's child: `fds` at 3…, the readiness channel (a pipe we
 * read) at `readyFd`, which defaults to right after them. Resolves once it exited or said READY.
 */
type Slot = 'ignore' | 'pipe' | number;

async function child(names: string, fds: Slot[], env: Record<string, string> = {}, readyFd?: number): Promise<Outcome & { pid: number; kill: () => void }> {
  const dir = tmpdir();
  const ready = readyFd ?? 3 + fds.length;
  const stdio: Slot[] = ['ignore', 'pipe', 'pipe', ...fds];
  while (stdio.length < ready) stdio.push('ignore');
  stdio[ready] = 'pipe';
  const me = procStat(process.pid)!;
  const proc = spawn(process.execPath, [APP, '--port', '0', '--host', '127.0.0.1', '--name', title()], {
    stdio,
    cwd: dir,
    env: {
      ...process.env,
      FORKOVER_ROLE: 'child',
      FORKOVER_FDS: names,
      FORKOVER_READY_FD: String(ready),
      FORKOVER_CWD: dir,
      FORKOVER_HANDOFF: JSON.stringify({ seq: 1, startedAt: Date.now(), generation: 2, parent: { pid: process.pid, starttime: me.starttime, title: me.comm }, draining: [] }),
      ...env,
    },
  });
  track(proc.pid);
  let stderr = '';
  proc.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  let channel = '';
  const chan = proc.stdio[ready] as net.Socket;
  const settled = new Promise<void>((resolve) => {
    chan.setEncoding('utf8');
    chan.on('error', () => {}); // a child killed mid-write resets the pair; 'close' follows
    chan.on('data', (c: string) => {
      channel += c;
      // The child's first line is its hand-over protocol (src/protocol.ts), before anything it decides.
      channel = channel.replace(/^PROTOCOL \d+ \d+ \S+\n/, '');
      if (channel.startsWith('READY ')) resolve();
    });
    chan.on('close', () => resolve());
  });
  const exited = once(proc, 'exit');
  const timeout = setTimeout(() => proc.kill('SIGKILL'), 10_000);
  await Promise.race([settled.then(() => (channel.startsWith('READY') ? undefined : exited)), exited]);
  clearTimeout(timeout);
  return {
    pid: proc.pid!,
    code: proc.exitCode,
    signal: proc.signalCode,
    get channel() {
      return channel;
    },
    get stderr() {
      return stderr;
    },
    kill: () => proc.kill('SIGKILL'),
  };
}

function failed(o: Outcome, message: RegExp): void {
  expect(o.signal).toBeNull();
  expect(o.code).toBe(1);
  expect(o.channel).toMatch(/^FAIL /);
  expect(JSON.parse(o.channel.slice(5).split('\n')[0]!)).toMatch(message);
  expect(o.stderr).toMatch(new RegExp(`cannot start: .*${message.source}`));
}

describe('handoff metadata (FORKOVER_FDS / FORKOVER_READY_FD)', () => {
  test('control: the right metadata adopts the socket and serves on it', async () => {
    const s = await listener();
    const port = portOf(s);
    const o = await child('["http"]', [fdOf(s)]);
    expect(o.channel).toMatch(new RegExp(`^READY ${o.pid} .*127\\.0\\.0\\.1:${port}`));
    s.close(); // our copy stops accepting; the child's still does
    expect((await get(port)).body).toBe(`hello from ${o.pid}\n`);
    o.kill();
  });

  test('more names than fds: refused, the channel is not where the names say', async () => {
    const s = await listener();
    failed(await child('["http","admin"]', [fdOf(s)], {}, 4), /names 2 listener\(s\) at fds 3…, so the readiness channel should be fd 5, but FORKOVER_READY_FD is 4/);
  });

  test('fewer names than fds: refused', async () => {
    const a = await listener();
    const b = await listener();
    failed(await child('["http"]', [fdOf(a), fdOf(b)]), /names 1 listener\(s\) at fds 3…, so the readiness channel should be fd 4, but FORKOVER_READY_FD is 5/);
  });

  test('a regular file where the socket should be: refused', async () => {
    const dir = tmpdir();
    const fd = fs.openSync(path.join(dir, 'not-a-socket'), 'w');
    try {
      failed(await child('["http"]', [fd]), /inherited listener "http" on fd 3 is not a socket/);
    } finally {
      fs.closeSync(fd);
    }
  });

  test('a closed fd where the socket should be: refused', async () => {
    // Nothing is mapped at fd 3. Node may put one of its own (epoll, an eventfd) there,
    // which is then "not a socket"; either way, never a listener.
    failed(await child('["http"]', ['ignore']), /inherited listener "http" (should be fd 3, but that fd is not open|on fd 3 is not a socket)/);
  });

  test('a connected, non-listening socket: refused, not served on', async () => {
    const s = await listener();
    const conn = net.connect(portOf(s), '127.0.0.1');
    open.push(conn);
    conn.on('error', () => {});
    await once(conn, 'connect');
    failed(await child('["http"]', [fdOf(conn)]), /cannot adopt inherited listener "http" on fd 3/);
  });

  test.each([
    ['not JSON', '[http', /inherited listener names are not valid JSON/],
    ['duplicates', '["http","http"]', /inherited listener names repeat: http, http/],
    ['not strings', '[1]', /must be a list of non-empty strings/],
  ])('names %s: refused', async (_n, names, message) => {
    const a = await listener();
    const b = await listener();
    const o = await child(names, [fdOf(a), fdOf(b)], {}, 4);
    expect(o.code).toBe(1);
    expect(o.stderr).toMatch(message);
  });

  test('a handoff record that is not JSON: refused', async () => {
    const s = await listener();
    failed(await child('["http"]', [fdOf(s)], { FORKOVER_HANDOFF: '{oops' }), /FORKOVER_HANDOFF is not valid JSON/);
  });

  test('a listener handed over under another name is closed, never served as "http"', async () => {
    const s = await listener();
    const port = portOf(s);
    const o = await child('["admin"]', [fdOf(s)]);
    expect(o.channel).toMatch(/^READY /);
    const bound = Number(/127\.0\.0\.1:(\d+)/.exec(o.channel)![1]);
    expect(bound).not.toBe(port); // "http" got a fresh socket
    expect(o.stderr).toContain('closing inherited listener "admin" (fd 3): this version does not use it');
    s.close();
    await expect(get(port, '/', false, 2_000)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect((await get(bound)).body).toBe(`hello from ${o.pid}\n`);
    o.kill();
  });
});

describe('socket activation (LISTEN_*, R5.1, R5.2)', () => {
  // LISTEN_PID must be the app's own PID, unknowable before fork: the R5.3 wrapper sets it.
  const WRAP = 'LISTEN_PID=$$ exec "$0" "$@"';
  function activated(env: Record<string, string>, fd3: number | 'ignore', wrap = true) {
    const name = title();
    const args = [APP, '--port', '0', '--host', '127.0.0.1', '--name', name];
    const opts = { stdio: ['ignore', 'pipe', 'pipe', fd3] as StdioOptions, env: { ...process.env, ...env } };
    return wrap ? start('/bin/sh', ['-c', WRAP, process.execPath, ...args], opts) : start(process.execPath, args, opts);
  }

  test('LISTEN_FDNAMES naming 1 socket while LISTEN_FDS says 2: refused', async () => {
    const s = await listener();
    const p = activated({ LISTEN_FDS: '2', LISTEN_FDNAMES: 'http' }, fdOf(s));
    const [code] = await once(p, 'exit');
    expect(code).toBe(1);
    expect(p.output()).toMatch(/LISTEN_FDNAMES names 1 sockets but LISTEN_FDS says 2/);
  });

  test('LISTEN_FDS=1 on a regular file: refused', async () => {
    const dir = tmpdir();
    const fd = fs.openSync(path.join(dir, 'f'), 'w');
    try {
      const p = activated({ LISTEN_FDS: '1', LISTEN_FDNAMES: 'http' }, fd);
      const [code] = await once(p, 'exit');
      expect(code).toBe(1);
      expect(p.output()).toMatch(/socket activation passed fd 3 \("http"\), but it is not an open socket/);
    } finally {
      fs.closeSync(fd);
    }
  });

  test('LISTEN_FDS garbage: refused', async () => {
    const s = await listener();
    const p = activated({ LISTEN_FDS: 'two' }, fdOf(s));
    const [code] = await once(p, 'exit');
    expect(code).toBe(1);
    expect(p.output()).toMatch(/LISTEN_FDS is "two", not a number of fds/);
  });

  test("a LISTEN_PID of another process means not activated: the app binds its own socket, ignores fd 3", async () => {
    const s = await listener();
    const p = activated({ LISTEN_PID: '1', LISTEN_FDS: '1', LISTEN_FDNAMES: 'http' }, fdOf(s), false);
    const port = Number((await waitForOutput(p, /listening on 127\.0\.0\.1:(\d+)/))[1]);
    expect(port).not.toBe(portOf(s));
    expect((await get(port)).body).toBe(`hello from ${p.pid}\n`);
    expect((await get(portOf(s)).catch(() => null))).toBeNull(); // our server answers raw text, not HTTP: the app did not take it
  });
});
