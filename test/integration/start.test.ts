// forkover start -- node app.js: an unmodified app as a forkover daemon (R1.3, R2.x).
import * as net from 'node:net';
import * as path from 'node:path';
import * as fs from 'node:fs';
import { alive, cleanup, cli, fixture, get, load, readPid, tmpdir, track, waitUntil } from '../helpers/util.js';

const F = (n: string): string => fixture(`start/${n}`);
afterEach(cleanup);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    }).on('error', reject);
  });
}

async function reload(pidfile: string): Promise<number> {
  const before = readPid(pidfile)!;
  const r = await cli(['reload', '-p', pidfile], { timeoutMs: 30_000 });
  expect(r.code).toBe(0);
  const after = await waitUntil(() => { const p = readPid(pidfile); return p && p !== before && alive(p) ? p : undefined; }, 15_000, 'a new generation');
  track(after);
  return after;
}

describe('forkover start', () => {
  test('plain http .cjs: two reloads under load, no failed request (R1.3)', async () => {
    const dir = tmpdir();
    const port = await freePort();
    const pidfile = path.join(dir, 'app.pid');
    const logfile = path.join(dir, 'app.log');
    const r = await cli(['start', '--daemon', '-p', pidfile, '-l', logfile, '--', 'node', F('http.cjs'), '--port', String(port)], { cwd: dir });
    track(readPid(pidfile));
    expect(r.code).toBe(0);
    const first = readPid(pidfile)!;
    expect((await get(port)).body).toBe(`hello from ${first}\n`);
    const l = load(port, { keepAlive: true, concurrency: 8, maxMs: 30_000 });
    const a = await reload(pidfile);
    const b = await reload(pidfile);
    const s = await l.stop();
    expect(new Set([first, a, b]).size).toBe(3);
    expect(s.failed).toBe(0);
    expect(s.ok).toBeGreaterThan(0);
    const st = await cli(['stop', '-p', pidfile]);
    expect(st.code).toBe(0);
    expect(fs.existsSync(pidfile)).toBe(false);
  });

  test('an app with its own SIGTERM handler: reload under new-connection load loses nothing, stop works', async () => {
    const dir = tmpdir();
    const port = await freePort();
    const pidfile = path.join(dir, 'app.pid');
    const logfile = path.join(dir, 'app.log');
    const r = await cli(['start', '--daemon', '-p', pidfile, '-l', logfile, '--', 'node', F('sigterm.cjs')], { cwd: dir, env: { ...process.env, PORT: String(port) } });
    const first = readPid(pidfile)!;
    track(first);
    expect(r.code).toBe(0);
    const l = load(port, { keepAlive: false, concurrency: 8, maxMs: 30_000 });
    const second = await reload(pidfile);
    const s = await l.stop();
    expect(second).not.toBe(first);
    expect(s.failed).toBe(0);
    await waitUntil(() => !alive(first), 15_000, 'the old generation to exit');
    const st = await cli(['stop', '-p', pidfile]);
    expect(st.code).toBe(0);
    expect(alive(second)).toBe(false);
    expect(fs.existsSync(pidfile)).toBe(false);
    expect(fs.readFileSync(logfile, 'utf8')).toMatch(/app SIGTERM handler ran/);
  });

  test('an ESM app listening after 2 s of start-up: the launcher exits 0 only then, pidfile present (R1.3)', async () => {
    const dir = tmpdir();
    const port = await freePort();
    const pidfile = path.join(dir, 'app.pid');
    const t0 = Date.now();
    const r = await cli(['start', '--daemon', '-p', pidfile, '-l', path.join(dir, 'app.log'), '--', 'node', F('slow-start.mjs')], { cwd: dir, env: { ...process.env, PORT: String(port) } });
    const took = Date.now() - t0;
    const pid = readPid(pidfile);
    track(pid);
    expect(r.code).toBe(0);
    expect(took).toBeGreaterThanOrEqual(2000);
    expect(pid).toBeDefined();
    expect((await get(port)).body).toBe(`hello from ${pid}\n`);
  });

  test('an app that throws at start: launcher non-zero, names the cause, no pidfile', async () => {
    const dir = tmpdir();
    const pidfile = path.join(dir, 'app.pid');
    const r = await cli(['start', '--daemon', '-p', pidfile, '-l', path.join(dir, 'app.log'), '--', 'node', F('throws.cjs')], { cwd: dir });
    track(readPid(pidfile));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/boom at start/);
    expect(fs.existsSync(pidfile)).toBe(false);
  });

  test.each([
    ['no command', [] as string[], /command/],
    ['a missing script', ['--', 'node', '/nonexistent/app.js'], /does not exist.*app\.js/],
    ['node -e', ['--', 'node', '-e', 'require("http").createServer().listen(1)'], /put the code in a file/],
  ])('bad input: %s exits 2 with a message naming the fix', async (_n, args, re) => {
    const r = await cli(['start', ...args], { cwd: tmpdir() });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(re);
  });
});
