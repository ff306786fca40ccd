// src/respawn.ts strayFds: the fds a spawned generation would inherit by accident (R1.4),
// found on real processes and sockets, and drain.ts connectionFds, the open connections a
// handoff tells it to skip: reading every connection's flags from /proc on the serving
// generation's event loop cost 113 ms with 10,000 connections, at every handoff.
import * as net from 'node:net';
import * as path from 'node:path';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import { strayFds } from '../../src/respawn.js';
import { connectionFds, track } from '../../src/drain.js';
import { handleFd } from '../../src/listeners.js';
import { ROOT } from '../helpers/util.js';

test('an fd inherited across a gap above 15 is a stray; one named as close-on-exec is skipped', async () => {
  // Node marks fds 0-15, and on to the first closed one, close-on-exec at start-up; fd 19
  // with 3-18 closed stays inheritable, as a stray inherited from a careless parent would.
  const script = `import { strayFds } from ${JSON.stringify(path.join(ROOT, 'dist/respawn.js'))};
    process.stdout.write(JSON.stringify({ all: strayFds(), skipped: strayFds([], new Set([19])), kept: strayFds([19]) }));`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit', ...Array<'ignore'>(16).fill('ignore'), 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c));
  const [code] = (await once(child, 'exit')) as [number];
  (child.stdio as unknown as (net.Socket | null)[])[19]?.destroy();
  expect(code).toBe(0);
  const r = JSON.parse(out) as { all: number[]; skipped: number[]; kept: number[] };
  expect(r.all).toContain(19);
  expect(r.skipped).not.toContain(19);
  expect(r.kept).not.toContain(19);
});

describe('connectionFds', () => {
  let server: net.Server;
  const clients: net.Socket[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  test("names exactly a tracked server's open connections, each close-on-exec as libuv accepted it", async () => {
    server = net.createServer();
    track(server);
    const accepted: net.Socket[] = [];
    server.on('connection', (s: net.Socket) => accepted.push(s));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as net.AddressInfo;
    for (let i = 0; i < 5; i++) clients.push(net.connect(port, '127.0.0.1'));
    while (accepted.length < 5) await once(server, 'connection');
    const fds = connectionFds([server]);
    const expected = accepted.map((s) => handleFd(s)!);
    expect(expected.every((fd) => fd > 2)).toBe(true);
    expect([...fds].sort((a, b) => a - b)).toEqual([...expected].sort((a, b) => a - b));
    // The premise of skipping them: each is close-on-exec, so /proc never names one a stray.
    expect(strayFds().filter((fd) => fds.has(fd))).toEqual([]);
    // A connection that closes is no longer named.
    const gone = accepted[0]!;
    const goneFd = expected[0]!;
    gone.destroy();
    await once(gone, 'close');
    expect(connectionFds([server]).has(goneFd)).toBe(false);
    expect(connectionFds([server]).size).toBe(4);
  });
});
