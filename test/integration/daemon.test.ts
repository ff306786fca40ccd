// Issue 2: the launcher, the pidfile, graceful stop, status and stop, against real
// processes. Contracts: §1 (R1.2–R1.9), §2 (R2.1–R2.7), R6.1, R6.2.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import {
  HELLO,
  alive,
  cleanup,
  cli,
  fixture,
  get,
  node,
  procStat,
  readPid,
  reaperPids,
  run,
  acceptedConnections,
  start,
  startDaemon,
  tmpdir,
  track,
  waitForOutput,
  waitUntil,
} from '../helpers/util.js';

const APP = fixture('app.mjs');
afterEach(cleanup);

describe('launcher (R1.2–R1.9)', () => {
  test('exits 0 only once the pidfile names a live, detached daemon with clean fds', async () => {
    const dir = tmpdir();
    const sentinelLow = path.join(dir, 'sentinel-low');
    const sentinelHigh = path.join(dir, 'sentinel-high');
    // bash opens two non-CLOEXEC fds before exec'ing the launcher: fd 9 (Node marks
    // 0–15 close-on-exec at start) and fd 200 (above the first gap, so Node leaves it
    // inheritable: only forkover's own closing keeps it from the daemon).
    const r = await run(
      'bash',
      ['-c', `exec 9>"$1" 200>"$2"; exec "$3" "$4" --port 0 --host 127.0.0.1 --daemon -p app.pid -l logs/app.log`, 'x', sentinelLow, sentinelHigh, process.execPath, HELLO],
      { cwd: dir, env: { ...process.env } },
    ).catch((e) => e);
    // The log directory does not exist: a clear failure, nothing started.
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/log directory .*logs/);
    expect(fs.existsSync(path.join(dir, 'app.pid'))).toBe(false);

    fs.mkdirSync(path.join(dir, 'logs'));
    const ok = await run(
      'bash',
      ['-c', `exec 9>"$1" 200>"$2"; exec "$3" "$4" --port 0 --host 127.0.0.1 --daemon -p app.pid -l logs/app.log`, 'x', sentinelLow, sentinelHigh, process.execPath, HELLO],
      { cwd: dir },
    );
    // Read the pidfile *immediately*: it must already name a live daemon (R1.9, R3.1).
    const pid = readPid(path.join(dir, 'app.pid'));
    track(pid);
    expect(ok.code).toBe(0);
    expect(pid).toBeDefined();
    expect(alive(pid!)).toBe(true);
    expect(fs.readFileSync(path.join(dir, 'app.pid'), 'utf8')).toBe(`${pid}\n`); // R2.1
    expect(fs.statSync(path.join(dir, 'app.pid')).mode & 0o777).toBe(0o644); // R2.3
    // The launcher prints the absolute pidfile path and the address actually bound.
    expect(ok.stdout).toContain(path.join(dir, 'app.pid'));
    const port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(ok.stdout)?.[1]);
    expect(port).toBeGreaterThan(0);
    expect((await get(port)).body).toBe(`hello from ${pid}\n`);

    const st = procStat(pid!)!;
    expect(st.session).not.toBe(pid); // not a session leader (R1.2)
    expect(reaperPids()).toContain(st.ppid); // reparented to init or our subreaper
    expect(fs.readlinkSync(`/proc/${pid}/cwd`)).toBe('/'); // R1.8
    expect(fs.readlinkSync(`/proc/${pid}/fd/0`)).toBe('/dev/null'); // R1.7
    const log = path.join(dir, 'logs/app.log');
    expect(fs.readlinkSync(`/proc/${pid}/fd/1`)).toBe(log);
    expect(fs.readlinkSync(`/proc/${pid}/fd/2`)).toBe(log);
    expect(parseInt(/flags:\s*(\d+)/.exec(fs.readFileSync(`/proc/${pid}/fdinfo/1`, 'utf8'))![1]!, 8) & 0o2000).toBe(0o2000); // O_APPEND
    expect(fs.statSync(log).mode & 0o777).toBe(0o640);
    // No stray fd from the launcher reaches the daemon (R1.4).
    const targets = fs.readdirSync(`/proc/${pid}/fd`).map((fd) => {
      try {
        return fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        return '';
      }
    });
    expect(targets).not.toContain(sentinelLow);
    expect(targets).not.toContain(sentinelHigh);
    // The title is the script's base name (R6.4).
    expect(st.comm).toBe('hello.js');
  });

  test('an app that throws before listening fails the launcher fast, with the error, leaving nothing', async () => {
    const dir = tmpdir();
    const t0 = Date.now();
    const r = await node(APP, ['--mode', 'throw', '--daemon', '-p', 'app.pid', '-l', 'app.log'], { cwd: dir });
    expect(r.code).not.toBe(0);
    expect(Date.now() - t0).toBeLessThan(2_000 + 1_500); // 2 s after the throw; start-up itself is well under 1.5 s
    expect(r.stderr).toContain('fixture: boom before listening');
    expect(fs.existsSync(path.join(dir, 'app.pid'))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'app.pid.meta'))).toBe(false);
    const pidMatch = /PID (\d+)/.exec(r.stderr);
    expect(pidMatch).not.toBeNull();
    expect(alive(Number(pidMatch![1]))).toBe(false);
  });

  test('an app that never becomes ready is killed after --start-timeout', async () => {
    const dir = tmpdir();
    const r = await node(APP, ['--mode', 'hang', '--daemon', '-p', 'app.pid', '-l', 'app.log', '--start-timeout', '1'], { cwd: dir });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/did not become ready within --start-timeout 1 s/);
    const pid = Number(/PID (\d+)/.exec(r.stderr)![1]);
    expect(alive(pid)).toBe(false);
    expect(fs.existsSync(path.join(dir, 'app.pid'))).toBe(false);
  });

  test('a port in use is named in the error', async () => {
    const dir = tmpdir();
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const r = await node(HELLO, ['--port', String(port), '--host', '127.0.0.1', '--daemon', '-p', 'app.pid', '-l', 'app.log'], { cwd: dir });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`port ${port} is already in use`);
      expect(fs.existsSync(path.join(dir, 'app.pid'))).toBe(false);
    } finally {
      blocker.close();
    }
  });

  test('--daemon without -l warns that output goes to /dev/null', async () => {
    const dir = tmpdir();
    const r = await node(HELLO, ['--port', '0', '--host', '127.0.0.1', '--daemon', '-p', 'app.pid'], { cwd: dir });
    track(readPid(path.join(dir, 'app.pid')));
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/warning: .*\/dev\/null/);
    const pid = readPid(path.join(dir, 'app.pid'))!;
    expect(fs.readlinkSync(`/proc/${pid}/fd/1`)).toBe('/dev/null');
  });
});

describe('single instance and stale pidfiles (R2.5, R2.6)', () => {
  test('a second start fails and leaves the running daemon, its pidfile and its log untouched', async () => {
    const dir = tmpdir();
    const d = await startDaemon(dir);
    const before = fs.readFileSync(d.pidfile, 'utf8');
    const mtime = fs.statSync(d.pidfile).mtimeMs;
    const log = fs.readFileSync(d.logfile, 'utf8');
    const r = await node(HELLO, ['--port', '0', '--daemon', '-p', 'app.pid', '-l', 'app.log'], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`hello.js: already running as PID ${d.pid} (pidfile ${d.pidfile}); run "forkover stop -p ${d.pidfile}" first\n`);
    expect(fs.readFileSync(d.logfile, 'utf8')).toBe(log); // the launcher wrote nothing into the running daemon's log (issue 16.7)
    expect(fs.readFileSync(d.pidfile, 'utf8')).toBe(before);
    expect(fs.statSync(d.pidfile).mtimeMs).toBe(mtime);
    expect((await get(d.port)).body).toBe(`hello from ${d.pid}\n`);
  });

  test('two starts at the same instant leave exactly one daemon', async () => {
    const dir = tmpdir();
    const args = ['--port', '0', '--host', '127.0.0.1', '--daemon', '-p', 'app.pid', '-l', 'app.log'];
    const [a, b] = await Promise.all([node(HELLO, args, { cwd: dir }), node(HELLO, args, { cwd: dir })]);
    const pid = readPid(path.join(dir, 'app.pid'));
    track(pid);
    const codes = [a.code, b.code].sort();
    expect(codes[0]).toBe(0);
    expect(codes[1]).not.toBe(0);
    const loser = a.code === 0 ? b : a;
    expect(loser.stderr).toContain(`already running as PID ${pid}`);
    // Each launcher named its daemon; the loser's is gone.
    const pids = [a, b].map((r) => Number(/PID (\d+)/.exec(r.stdout + r.stderr)?.[1]));
    const loserDaemon = Number(/daemon \(PID (\d+)\)/.exec(loser.stderr)?.[1]);
    expect(pids).toContain(pid);
    expect(alive(pid!)).toBe(true);
    if (loserDaemon) expect(alive(loserDaemon)).toBe(false);
  });

  test('after kill -9 the next start replaces the stale pidfile, with a log line', async () => {
    const dir = tmpdir();
    const d = await startDaemon(dir);
    process.kill(d.pid, 'SIGKILL');
    await waitUntil(() => !alive(d.pid), 5_000, 'the killed daemon to go');
    expect(readPid(d.pidfile)).toBe(d.pid);
    expect((await cli(['status', '-p', d.pidfile])).code).toBe(1);
    const d2 = await startDaemon(dir);
    expect(d2.pid).not.toBe(d.pid);
    expect(fs.readFileSync(d.logfile, 'utf8')).toMatch(new RegExp(`replacing stale pidfile .*PID ${d.pid} is (not running|a zombie)`));
  });

  test('a pidfile naming an unrelated live process: status 1, stop 0, and that process is not signalled', async () => {
    const dir = tmpdir();
    const sleeper = start('sleep', ['60']);
    const pidfile = path.join(dir, 'app.pid');
    fs.writeFileSync(pidfile, `${sleeper.pid}\n`);
    const s = await cli(['status', '-p', pidfile]);
    expect(s.code).toBe(1);
    expect(s.stderr).toContain(`PID ${sleeper.pid}`);
    const stop = await cli(['stop', '-p', pidfile, '--timeout', '1']);
    expect(stop.code).toBe(0);
    expect(stop.stderr).toMatch(new RegExp(`warning: .*PID ${sleeper.pid}.*not signalling`));
    expect(sleeper.exitCode).toBeNull();
    expect(sleeper.signalCode).toBeNull();
    expect(alive(sleeper.pid!)).toBe(true);
    // And a start replaces it rather than refusing.
    const d = await startDaemon(dir);
    expect(d.pid).not.toBe(sleeper.pid);
    expect(alive(sleeper.pid!)).toBe(true);
  });

  test('a zombie counts as dead, even with a matching record', async () => {
    const dir = tmpdir();
    // sh starts `cat` in the background and execs into sleep, which never reaps. cat
    // exits when we close our end of fd 3, and only once the exec has happened: before
    // it, dash itself might reap the child.
    const holder = start('sh', ['-c', 'cat <&3 >/dev/null & echo $!; exec sleep 60'], { stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
    const zombie = Number((await waitForOutput(holder, /^(\d+)\n/))[1]);
    await waitUntil(() => procStat(holder.pid!)?.comm === 'sleep', 5_000, 'sh to exec sleep');
    (holder.stdio[3] as import('node:net').Socket).destroy();
    await waitUntil(() => procStat(zombie)?.state === 'Z', 5_000, 'the zombie');
    const pidfile = path.join(dir, 'app.pid');
    const st = procStat(zombie)!;
    const record = { pid: zombie, starttime: st.starttime, title: st.comm };
    fs.writeFileSync(
      `${pidfile}.meta`,
      JSON.stringify({ version: 1, leader: { ...record, startedAt: new Date().toISOString(), generation: 1 }, workers: [record], draining: [], listeners: [], handoffSeq: 0, lastHandoff: null }),
    );
    fs.writeFileSync(pidfile, `${zombie}\n`);
    const s = await cli(['status', '-p', pidfile]);
    expect(s.code).toBe(1);
    expect(s.stderr).toContain('zombie');
    expect((await cli(['stop', '-p', pidfile])).code).toBe(0);
    expect((await cli(['reload', '-p', pidfile])).code).toBe(7);
  });
});

describe('graceful stop', () => {
  test('TERM lets a 3 s request finish with 200, then the port refuses and the pidfile is gone', async () => {
    const dir = tmpdir();
    const d = await startDaemon(dir);
    const before = acceptedConnections(d.pid, d.port);
    const slow = get(d.port, '/slow?ms=3000');
    // TERM only once the request's connection is in the server.
    await waitUntil(() => acceptedConnections(d.pid, d.port) > before, 5_000, 'the slow request to be accepted');
    process.kill(d.pid, 'SIGTERM');
    const reply = await slow;
    expect(reply.status).toBe(200);
    expect(reply.body).toBe(`slow ${d.pid}\n`);
    await waitUntil(() => !alive(d.pid), 10_000, 'the daemon to exit');
    expect(fs.existsSync(d.pidfile)).toBe(false);
    await expect(get(d.port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(fs.readFileSync(d.logfile, 'utf8')).toMatch(/SIGTERM: stopping[\s\S]*stopped/);
  });

  test('foreground: TERM drains and exits 0; --drain-timeout cuts a long request; a second TERM exits at once', async () => {
    const dir = tmpdir();
    const pidfile = path.join(dir, 'fg.pid');
    const fg = start(process.execPath, [HELLO, '--port', '0', '--host', '127.0.0.1', '-p', pidfile, '--drain-timeout', '1'], { cwd: dir });
    const port = Number((await waitForOutput(fg, /listening on 127\.0\.0\.1:(\d+)/))[1]);
    expect(readPid(pidfile)).toBe(fg.pid);
    const before = acceptedConnections(fg.pid!, port);
    const long = get(port, '/slow?ms=20000').then(
      (r) => ({ ok: true, r }),
      (e) => ({ ok: false, e }),
    );
    await waitUntil(() => acceptedConnections(fg.pid!, port) > before, 5_000, 'the slow request to be accepted');
    const t0 = Date.now();
    const exited = new Promise<number | null>((r) => fg.once('exit', (code) => r(code)));
    fg.kill('SIGTERM');
    const code = await exited;
    const elapsed = Date.now() - t0;
    expect(code).toBe(0);
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(5_000);
    expect((await long).ok).toBe(false); // cut by --drain-timeout
    expect(fs.existsSync(pidfile)).toBe(false);

    // A second TERM exits at once, with a slow request still in flight.
    const fg2 = start(process.execPath, [HELLO, '--port', '0', '--host', '127.0.0.1', '-p', pidfile, '--drain-timeout', '30'], { cwd: dir });
    const port2 = Number((await waitForOutput(fg2, /listening on 127\.0\.0\.1:(\d+)/))[1]);
    const before2 = acceptedConnections(fg2.pid!, port2);
    void get(port2, '/slow?ms=20000').catch(() => {});
    await waitUntil(() => acceptedConnections(fg2.pid!, port2) > before2, 5_000, 'the slow request to be accepted');
    const exited2 = new Promise<number | null>((r) => fg2.once('exit', (c) => r(c)));
    fg2.kill('SIGTERM');
    await waitForOutput(fg2, /SIGTERM: stopping/);
    const t1 = Date.now();
    fg2.kill('SIGTERM');
    await exited2;
    expect(Date.now() - t1).toBeLessThan(2_000);
    expect(fs.existsSync(pidfile)).toBe(false);
  });
});

describe('status and stop (R6.1, R6.2)', () => {
  test('status returns 0, 1, 3 and 4 in the right situations', async () => {
    const dir = tmpdir();
    const pidfile = path.join(dir, 'app.pid');
    expect((await cli(['status', '-p', pidfile])).code).toBe(3);
    const d = await startDaemon(dir);
    const running = await cli(['status', '-p', 'app.pid'], { cwd: dir });
    expect(running.code).toBe(0);
    expect(running.stdout).toMatch(new RegExp(`running as PID ${d.pid}, up \\d+s`));
    process.kill(d.pid, 'SIGKILL');
    await waitUntil(() => !alive(d.pid), 5_000);
    expect((await cli(['status', '-p', pidfile])).code).toBe(1);
    fs.writeFileSync(pidfile, 'garbage\n');
    const unknown = await cli(['status', '-p', pidfile]);
    expect(unknown.code).toBe(4);
    expect(unknown.stderr).toContain('does not hold a PID');
    fs.rmSync(pidfile);
    fs.mkdirSync(pidfile);
    expect((await cli(['status', '-p', pidfile])).code).toBe(4);
  });

  test('stop sends SIGKILL after its timeout when the daemon will not drain, and exits 0', async () => {
    const dir = tmpdir();
    const d = await startDaemon(dir, ['--mode', 'stubborn', '--drain-timeout', '600'], APP);
    const t0 = Date.now();
    const r = await cli(['stop', '-p', d.pidfile, '--timeout', '1']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/sending SIGKILL/);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1_000);
    expect(alive(d.pid)).toBe(false);
    expect(fs.existsSync(d.pidfile)).toBe(false);
    expect((await cli(['stop', '-p', d.pidfile])).code).toBe(0); // not running: still 0
  });

  test('foreground mode: the same pidfile, status and stop', async () => {
    const dir = tmpdir();
    const pidfile = path.join(dir, 'fg.pid');
    const fg = start(process.execPath, [HELLO, '--port', '0', '--host', '127.0.0.1', '-p', pidfile], { cwd: dir });
    await waitForOutput(fg, /ready:/);
    expect(readPid(pidfile)).toBe(fg.pid);
    expect((await cli(['status', '-p', pidfile])).code).toBe(0);
    const second = await node(HELLO, ['--port', '0', '-p', pidfile], { cwd: dir });
    expect(second.code).not.toBe(0);
    expect(second.stderr).toContain(`already running as PID ${fg.pid}`);
    const exited = new Promise<number | null>((r) => fg.once('exit', (c) => r(c)));
    expect((await cli(['stop', '-p', pidfile])).code).toBe(0);
    expect(await exited).toBe(0);
    expect(fs.existsSync(pidfile)).toBe(false);
    expect((await cli(['status', '-p', pidfile])).code).toBe(3);
  });
});

describe('bad flags start nothing', () => {
  test.each([
    [['--daemon'], /--daemon needs -p\/--pidfile/],
    [['--daemon', '-p', 'x.pid', '--start-timeout', 'soon'], /--start-timeout/],
    [['--daemon', '-p', 'x.pid', '--frobnicate'], /--frobnicate/],
    [['--name', 'a-title-far-too-long'], /--name/],
  ])('%j', async (args, message) => {
    const dir = tmpdir();
    const r = await node(HELLO, ['--port', '0', ...args], { cwd: dir });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});
