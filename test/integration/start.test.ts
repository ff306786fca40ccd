// forkover start -- node app.js: an unmodified app as a forkover daemon (R1.3, R2.x).
import * as path from 'node:path';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { loadTarget } from '../helpers/load.js';
import { acceptedConnections, alive, cleanup, cli, CLI, fixture, freePort, get, load, processesTitled, readPid, reloadToNew, start, tmpdir, track, waitForOutput, waitUntil } from '../helpers/util.js';

const F = (n: string): string => fixture(`start/${n}`);
afterEach(cleanup);

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
    const a = await reloadToNew(pidfile);
    const b = await reloadToNew(pidfile);
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
    const second = await reloadToNew(pidfile);
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

let serial = 0;
/** A process title no other test on this machine uses: asserts count processes by it. */
const uniqueTitle = (): string => `st${process.pid % 1_000_000}x${++serial}`;

/** `forkover start --daemon -p -l [flags] -- node <app> [args]` in a new temp dir; the launcher's result and the paths. */
async function startApp(app: string, flags: string[] = [], args: string[] = [], env: NodeJS.ProcessEnv = {}) {
  const dir = tmpdir();
  const port = await freePort();
  const pidfile = path.join(dir, 'app.pid');
  const logfile = path.join(dir, 'app.log');
  const r = await cli(['start', '--daemon', '-p', pidfile, '-l', logfile, ...flags, '--', 'node', app, ...args], {
    cwd: dir,
    env: { ...process.env, PORT: String(port), ...env },
  });
  track(readPid(pidfile));
  return { dir, port, pidfile, logfile, r, pid: readPid(pidfile) };
}

describe('forkover start: what a generation loads', () => {
  test('no generation loads commander (forkover start passes options, not argv): the first, nor one after a reload', async () => {
    const s = await startApp(F('loaded.cjs'));
    expect(s.r.code).toBe(0);
    const seen = async () => JSON.parse((await get(s.port)).body) as { pid: number; commander: string[] };
    expect(await seen()).toEqual({ pid: s.pid, commander: [] });
    const next = await reloadToNew(s.pidfile);
    // Until the old generation has exited, a new connection may still reach it.
    await waitUntil(() => !alive(s.pid!), 10_000, `the old generation ${s.pid} to exit`);
    expect(await seen()).toEqual({ pid: next, commander: [] });
    // The check sees commander once something loads it.
    expect(JSON.parse((await get(s.port, '/?load=1')).body).commander.length).toBeGreaterThan(0);
  });
});

describe('forkover start: an app that does not become ready', () => {
  test('never listens: the launcher fails at --start-timeout, names --listeners, shows the log, leaves nothing', async () => {
    const name = uniqueTitle();
    const s = await startApp(F('never-listens.cjs'), ['--start-timeout', '3', '--name', name]);
    expect(s.r.code).not.toBe(0);
    expect(s.r.stderr).toMatch(/listened on 0 of the expected 1 listener \(--listeners 1\)/);
    expect(s.r.stderr).toContain('connecting to the database...'); // the log's new lines
    expect(fs.existsSync(s.pidfile)).toBe(false);
    await waitUntil(() => processesTitled(name).length === 0, 10_000, 'no process left');
  });

  test('listens on fewer than --listeners: the launcher fails and says so', async () => {
    const name = uniqueTitle();
    const s = await startApp(F('http.cjs'), ['--start-timeout', '3', '--listeners', '2', '--name', name]);
    expect(s.r.code).not.toBe(0);
    expect(s.r.stderr).toMatch(/listened on 1 of the expected 2 listeners \(--listeners 2\).*start it with that --listeners/s);
    expect(fs.existsSync(s.pidfile)).toBe(false);
    await waitUntil(() => processesTitled(name).length === 0, 10_000, 'no process left');
  });

  test('its port is taken: the launcher fails naming the port, and does not blame --listeners', async () => {
    const name = uniqueTitle();
    const dir = tmpdir();
    const port = await freePort();
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(port, '127.0.0.1', resolve));
    try {
      const pidfile = path.join(dir, 'app.pid');
      const r = await cli(['start', '--daemon', '-p', pidfile, '-l', path.join(dir, 'app.log'), '--name', name, '--', 'node', F('http.cjs')], {
        cwd: dir,
        env: { ...process.env, PORT: String(port) },
      });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`port ${port} is already in use on 127.0.0.1`);
      expect(r.stderr).toMatch(/called listen\(\) for each of the expected 1 listener \(--listeners 1\), so that is not the cause/);
      expect(r.stderr).not.toMatch(/start it with that --listeners/);
      expect(fs.existsSync(pidfile)).toBe(false);
      await waitUntil(() => processesTitled(name).length === 0, 10_000, 'no process left');
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });

  test('exits from its listen callback: the launcher fails with the exit code and the log, no pidfile', async () => {
    const name = uniqueTitle();
    const s = await startApp(F('exits-after-listen.cjs'), ['--name', name]);
    expect(s.r.code).not.toBe(0);
    expect(s.r.stderr).toMatch(/code 3/);
    expect(s.r.stderr).toContain('listened, now exiting with code 3');
    expect(fs.existsSync(s.pidfile)).toBe(false);
    await waitUntil(() => processesTitled(name).length === 0, 10_000, 'no process left');
  });

  test.each([
    ['throws at start', 'throws.cjs', [] as string[], /boom at start/],
    ['never listens', 'never-listens.cjs', ['--upgrade-timeout', '3'], /--listeners 1/],
  ])('a reload to a new version that %s rolls back: reload exits 1, the old PID keeps serving, no request fails (R3.4)', async (_n, bad, flags, cause) => {
    const dir = tmpdir();
    const app = path.join(dir, 'app.cjs');
    fs.copyFileSync(F('http.cjs'), app);
    const s = await startApp(app, flags);
    expect(s.r.code).toBe(0);
    const old = s.pid!;
    const l = load(s.port, { keepAlive: false, concurrency: 4, maxMs: 30_000 });
    fs.copyFileSync(F(bad), app); // the deploy
    const r = await cli(['reload', '-p', s.pidfile], { timeoutMs: 30_000 });
    expect(r.code).toBe(1);
    expect(`${r.stdout}${r.stderr}`).toMatch(cause);
    const st = await l.stop();
    expect(st.failed).toBe(0);
    expect(st.ok).toBeGreaterThan(0);
    expect(readPid(s.pidfile)).toBe(old);
    expect((await get(s.port)).body).toBe(`hello from ${old}\n`);
    expect((await cli(['status', '-p', s.pidfile])).code).toBe(0);
    expect((await cli(['stop', '-p', s.pidfile])).code).toBe(0);
    expect(alive(old)).toBe(false);
  });
});

describe('forkover start with the daemon flags', () => {
  test('--workers 2: both processes serve the app, a reload under load fails nothing, stop ends both', async () => {
    const name = uniqueTitle();
    const s = await startApp(F('http.cjs'), ['--workers', '2', '--name', name]);
    expect(s.r.code).toBe(0);
    const status = async () => JSON.parse((await cli(['status', '-p', s.pidfile, '--json'])).stdout) as { pid: number; workers: { pid: number }[] };
    const first = await status();
    first.workers.forEach((w) => track(w.pid));
    expect(first.workers).toHaveLength(2);
    // Both processes of the generation answer: new connections spread across them.
    const seen = await waitUntil(async () => {
      const pids = new Set<string>();
      for (let i = 0; i < 40; i++) pids.add((await get(s.port)).body);
      return pids.size === 2 ? pids : undefined;
    }, 20_000, 'replies from both workers');
    expect([...seen].sort()).toEqual(first.workers.map((w) => `hello from ${w.pid}\n`).sort());
    const l = load(s.port, { keepAlive: true, concurrency: 8, maxMs: 30_000 });
    const next = await reloadToNew(s.pidfile);
    const st = await l.stop();
    expect(st.failed).toBe(0);
    expect(st.ok).toBeGreaterThan(0);
    const second = await status();
    second.workers.forEach((w) => track(w.pid));
    expect(second.pid).toBe(next);
    expect(second.workers).toHaveLength(2);
    await waitUntil(() => first.workers.every((w) => !alive(w.pid)), 15_000, 'the old workers to exit');
    expect((await cli(['stop', '-p', s.pidfile])).code).toBe(0);
    expect(processesTitled(name)).toEqual([]);
  });

  test('--standby: the reload hands over to the waiting process, which then runs the app (new PID == standby.pid)', async () => {
    const s = await startApp(F('http.cjs'), ['--standby']);
    expect(s.r.code).toBe(0);
    const standby = await waitUntil(async () => {
      const j = JSON.parse((await cli(['status', '-p', s.pidfile, '--json'])).stdout) as { standby: { pid: number } | null };
      return j.standby?.pid;
    }, 15_000, 'a standby');
    track(standby);
    const l = load(s.port, { keepAlive: false, concurrency: 8, maxMs: 30_000 });
    const r = await cli(['reload', '-p', s.pidfile], { timeoutMs: 30_000 });
    expect(r.code).toBe(0);
    const st = await l.stop();
    expect(readPid(s.pidfile)).toBe(standby);
    expect(st.failed).toBe(0);
    await waitUntil(() => !alive(s.pid!), 15_000, 'the old generation to exit');
    expect((await get(s.port)).body).toBe(`hello from ${standby}\n`);
    expect((await cli(['stop', '-p', s.pidfile])).code).toBe(0);
  });

  test('--user nobody: the app runs as nobody, a reload hands over as nobody, stop removes the pidfile (R1.10)', async () => {
    const s0 = tmpdir();
    fs.chmodSync(s0, 0o755);
    const name = uniqueTitle();
    const port = await freePort();
    const pidfile = path.join(s0, 'app.pid');
    const r = await cli(['start', '--daemon', '-p', pidfile, '-l', path.join(s0, 'app.log'), '--user', 'nobody', '--name', name, '--', 'node', F('http.cjs'), '--port', String(port)], { cwd: s0 });
    const pid = readPid(pidfile);
    track(pid);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const uid = (p: number) => /^Uid:\s*(\d+)/m.exec(fs.readFileSync(`/proc/${p}/status`, 'utf8'))![1];
    expect(uid(pid!)).toBe('65534');
    const l = load(port, { keepAlive: true, concurrency: 4, maxMs: 30_000 });
    const next = await reloadToNew(pidfile);
    const st = await l.stop();
    expect(st.failed).toBe(0);
    expect(uid(next)).toBe('65534');
    expect((await get(port)).body).toBe(`hello from ${next}\n`);
    expect((await cli(['stop', '-p', pidfile])).code).toBe(0);
    expect(fs.existsSync(pidfile)).toBe(false);
    expect(processesTitled(name)).toEqual([]);
  });

  test('in the foreground: SIGTERM drains an in-flight request, then the process exits 0', async () => {
    const port = await freePort();
    const child = start(process.execPath, [CLI, 'start', '--', 'node', F('http.cjs'), '--port', String(port)], { cwd: tmpdir() });
    await waitForOutput(child, /listening on/);
    await waitUntil(async () => (await get(port).catch(() => undefined))?.status === 200, 10_000, 'the app to answer');
    const slow = get(port, '/slow?ms=1500');
    await waitUntil(() => (child.pid ? acceptedConnections(child.pid, port) > 0 : false), 5_000, 'the slow request to reach the app');
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect((await slow).body).toBe(`hello from ${child.pid}\n`);
    expect(await exited).toBe(0);
  });
});

describe('forkover start: a listen() after ready (Fastify on "localhost")', () => {
  test('the second address is handed over too: two reloads under load on both, 0 failed, both answer from the new PID', async () => {
    const s = await startApp(F('late.cjs'));
    expect(s.r.code).toBe(0);
    const registered = (pid: number) =>
      waitUntil(() => fs.readFileSync(s.logfile, 'utf8').match(new RegExp(`forkover\\[${pid}\\]: listener "\\[?::1\\]?:${s.port}" registered after ready`)), 10_000, () => `PID ${pid}'s late listener in:\n${fs.readFileSync(s.logfile, 'utf8')}`);
    await registered(s.pid!);
    const loads = (['127.0.0.1', '::1'] as const).map((host) => loadTarget({ kind: 'http', port: s.port, host }, { keepAlive: false, concurrency: 4, maxMs: 30_000 }));
    const a = await reloadToNew(s.pidfile);
    await registered(a);
    const b = await reloadToNew(s.pidfile);
    await registered(b);
    await waitUntil(() => !alive(a) && !alive(s.pid!), 15_000, 'the old generations to exit');
    const [v4, v6] = await Promise.all(loads.map((l) => l.stop()));
    for (const st of [v4!, v6!]) {
      expect({ failed: st.failed, errors: st.errors }).toEqual({ failed: 0, errors: [] });
      expect(st.ok).toBeGreaterThan(0);
    }
    expect(fs.readFileSync(s.logfile, 'utf8')).not.toMatch(/second listener failed/);
    const after = await Promise.all((['127.0.0.1', '::1'] as const).map((host) => loadTarget({ kind: 'http', port: s.port, host }, { maxRequests: 5 }).done));
    for (const st of after) expect(Object.keys(st.byPid)).toEqual([String(b)]);
    expect((await cli(['stop', '-p', s.pidfile])).code).toBe(0);
  });
});

describe('forkover start under socket activation (R5.1-R5.3)', () => {
  test("systemd-socket-activate's socket is adopted for the app's own listen(), and handed over by a reload under load", async () => {
    const dir = tmpdir();
    const port = await freePort();
    const pidfile = path.join(dir, 'app.pid');
    // systemd's own tool: it binds 127.0.0.1:port, then execs forkover with the socket
    // at fd 3 and LISTEN_PID/LISTEN_FDS set. Binding the port again would fail with
    // EADDRINUSE: the app serves only if its listen() adopted fd 3.
    const child = start('systemd-socket-activate', ['-l', `127.0.0.1:${port}`, '--', process.execPath, CLI, 'start', '-p', pidfile, '--', 'node', F('http.cjs'), '--port', String(port)], { cwd: dir });
    // It starts the service at the first connection: that request waits in the socket's
    // queue and must be served by the app once it adopted the socket.
    await waitForOutput(child, /Listening on 127\.0\.0\.1:\d+ as 3/);
    const queued = await get(port);
    await waitForOutput(child, /ready: http\.cjs generation 1/);
    const first = readPid(pidfile)!;
    expect(first).toBe(child.pid);
    expect(queued.body).toBe(`hello from ${first}\n`);
    expect(fs.readlinkSync(`/proc/${first}/fd/3`)).toMatch(/^socket:/);
    const l = load(port, { keepAlive: false, concurrency: 4, maxMs: 30_000 });
    process.kill(first, 'SIGUSR2');
    const second = await waitUntil(() => { const p = readPid(pidfile); return p && p !== first ? p : undefined; }, 15_000, 'the new generation in the pidfile');
    track(second);
    await waitUntil(() => !alive(first), 15_000, 'the old generation to exit');
    const st = await l.stop();
    expect({ failed: st.failed, errors: st.errors }).toEqual({ failed: 0, errors: [] });
    expect((await get(port)).body).toBe(`hello from ${second}\n`);
    process.kill(second, 'SIGTERM');
    await waitUntil(() => !alive(second), 15_000, 'the last generation to stop');
    expect(fs.existsSync(pidfile)).toBe(false);
  });
});
