// Issue 5, item 3: privilege drop (contracts R1.10, R9.4, R10.4). As root, bind port 80
// on 127.0.0.1, then serve as the real user `nobody`; handoffs keep working as nobody
// because the new generation inherits the socket, and it can rewrite the pidfile and
// reopen the log because the launcher gave them to nobody.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { main } from '../../src/cli.js';
import { cleanup, fixture, get, node, processesTitled, readPid, run, tmpdir, track, waitUntil } from '../helpers/util.js';

const APP = fixture('app.mjs');
const NOBODY = 65534;
afterEach(cleanup);

let seq = 0;
const title = () => `pv${process.pid % 10000}x${++seq}`;

async function ctl(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(args, { out: (t) => void (out += `${t}\n`), err: (t) => void (err += `${t}\n`), cwd: '/' });
  return { code, out, err };
}

/** Uid, Gid (real, effective, saved, fs) and supplementary groups from /proc/PID/status. */
function creds(pid: number): { uid: number[]; gid: number[]; groups: number[] } {
  const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const nums = (key: string) => (new RegExp(`^${key}:\\s*(.*)$`, 'm').exec(text)?.[1] ?? '').trim().split(/\s+/).filter(Boolean).map(Number);
  return { uid: nums('Uid'), gid: nums('Gid'), groups: nums('Groups') };
}

test('precondition: the tests run as root (the only way to test a privilege drop)', () => {
  expect(process.getuid!()).toBe(0);
});

/** Can we bind 127.0.0.1:80 right now? (Another test on this shared machine may hold it briefly.) */
function port80Free(): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen(80, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

test('port 80 bound as root, served as nobody; a reload hands over as nobody; stop removes the pidfile', async () => {
  // Fails loudly, naming the holder, if port 80 stays taken: this test must not skip.
  let free = false;
  const until = Date.now() + 20_000;
  // Polled, like waitUntil (the check is asynchronous): there is no event for "port freed".
  while (!(free = await port80Free()) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
  if (!free) throw new Error(`127.0.0.1:80 stayed in use for 20 s: ${execFileSync('ss', ['-ltnp', 'sport = :80'], { encoding: 'utf8' })}`);
  const dir = tmpdir();
  fs.chmodSync(dir, 0o755); // like /run: nobody may pass through
  const pidfile = path.join(dir, 'run', 'app.pid');
  const logfile = path.join(dir, 'app.log');
  fs.mkdirSync(path.dirname(pidfile), { mode: 0o755 });
  const name = title();
  const launcher = await node(
    APP,
    ['--port', '80', '--host', '127.0.0.1', '--daemon', '-p', pidfile, '-l', logfile, '--name', name, '--user', 'nobody', '--group', 'daemon'],
    { cwd: dir },
  );
  const pid = readPid(pidfile);
  track(pid);
  expect(launcher.stderr).toBe('');
  expect(launcher.code).toBe(0);
  expect(launcher.stdout).toContain('listening on 127.0.0.1:80');
  // R1.10: every id is nobody's; the primary group is --group; root's groups are gone (initgroups, not setgroups(0) alone).
  const c = creds(pid!);
  expect(c.uid).toEqual([NOBODY, NOBODY, NOBODY, NOBODY]);
  expect(c.gid).toEqual([1, 1, 1, 1]); // daemon
  expect(c.groups).not.toContain(0);
  expect(c.groups).toContain(1); // initgroups(user, gid) sets the groups; setgroups(0) alone would leave none (R9.4)
  expect((await get(80)).body).toBe(`hello from ${pid}\n`);
  // The launcher gave the pidfile directory and the log to nobody; the first generation gave it the pidfile and sidecar.
  for (const f of [path.dirname(pidfile), logfile, pidfile, `${pidfile}.meta`]) expect(`${f} ${fs.statSync(f).uid}`).toBe(`${f} ${NOBODY}`);
  expect(fs.statSync(pidfile).mode & 0o777).toBe(0o644);
  expect(fs.existsSync(`${pidfile}.lock`)).toBe(false);

  // The handoff: spawned by nobody, the new generation inherits port 80 and writes the pidfile.
  const reload = await ctl(['reload', '-p', pidfile, '--timeout', '20']);
  expect(reload.err).toBe('');
  expect(reload.code).toBe(0);
  const pid2 = readPid(pidfile)!;
  track(pid2);
  expect(pid2).not.toBe(pid);
  expect(creds(pid2).uid).toEqual([NOBODY, NOBODY, NOBODY, NOBODY]);
  expect((await get(80)).body).toBe(`hello from ${pid2}\n`);
  expect(fs.readFileSync(logfile, 'utf8')).toContain(`forkover[${pid2}]: ready`); // reopened the log by path
  await waitUntil(() => processesTitled(name).length === 1, 10_000, 'the old generation to exit');

  const stop = await ctl(['stop', '-p', pidfile, '--timeout', '10']);
  expect(stop.code).toBe(0);
  expect(processesTitled(name)).toEqual([]);
  expect(fs.existsSync(pidfile)).toBe(false); // removed at exit by nobody (R2.7)
  expect(fs.existsSync(`${pidfile}.meta`)).toBe(false);
  await expect(get(80, '/', false, 2_000)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
});

test('--workers 2 --user nobody: every worker drops too, across a reload; stop leaves nothing', async () => {
  const dir = tmpdir();
  fs.chmodSync(dir, 0o755);
  fs.mkdirSync(path.join(dir, 'run'));
  const pidfile = path.join(dir, 'run', 'app.pid');
  const name = title();
  const l = await node(APP, ['--port', '0', '--host', '127.0.0.1', '--daemon', '-p', pidfile, '-l', path.join(dir, 'app.log'), '--name', name, '--user', 'nobody', '--workers', '2'], { cwd: dir });
  track(readPid(pidfile));
  expect(l.code).toBe(0);
  const all = () => processesTitled(name);
  all().forEach(track);
  expect(all()).toHaveLength(2);
  for (const p of all()) expect(`${p} ${creds(p).uid.join(' ')}`).toBe(`${p} 65534 65534 65534 65534`);
  expect((await ctl(['reload', '-p', pidfile, '--timeout', '20'])).code).toBe(0);
  await waitUntil(() => all().length === 2, 10_000, 'the old generation to go');
  all().forEach(track);
  for (const p of all()) expect(`${p} ${creds(p).uid.join(' ')}`).toBe(`${p} 65534 65534 65534 65534`);
  expect((await ctl(['stop', '-p', pidfile, '--timeout', '10'])).code).toBe(0);
  await waitUntil(() => all().length === 0, 5_000, 'every worker to exit');
  expect(fs.existsSync(pidfile)).toBe(false);
});

describe('bad --user/--group: a clear error, exit 2, nothing started', () => {
  test.each([
    [['--user', 'no-such-user-x'], /--user no-such-user-x: no such user on this system/],
    [['--user', 'nobody', '--group', 'no-such-group-x'], /--group no-such-group-x: no such group on this system/],
    [['--group', 'daemon'], /--group needs --user/],
    [['--user', 'bad name'], /--user takes a user or group name or a numeric id, not "bad name"/],
  ])('%j', async (flags, message) => {
    const dir = tmpdir();
    const name = title();
    const r = await node(APP, ['--port', '0', '--host', '127.0.0.1', '--daemon', '-p', 'app.pid', '-l', 'app.log', '--name', name, ...flags], { cwd: dir });
    track(readPid(path.join(dir, 'app.pid')));
    expect(r.stderr).toMatch(message);
    expect(r.code).toBe(2);
    expect(processesTitled(name)).toEqual([]);
    expect(fs.existsSync(path.join(dir, 'app.pid'))).toBe(false);
  });

  test('a pidfile straight in a shared directory (/run) is not given away: refused, naming a directory of its own', async () => {
    const dir = tmpdir();
    fs.chmodSync(dir, 0o755);
    const name = title();
    const shared = `/run/${name}.pid`;
    fs.mkdirSync('/run', { recursive: true });
    const r = await node(APP, ['--port', '0', '--host', '127.0.0.1', '--daemon', '-p', shared, '-l', 'app.log', '--name', name, '--user', 'nobody'], { cwd: dir });
    track(readPid(shared));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`not the shared /run; use for example /run/${name}/${name}.pid`);
    expect(fs.statSync('/run').uid).toBe(0);
    expect(fs.existsSync(shared)).toBe(false);
    expect(processesTitled(name)).toEqual([]);
  });

  test('a pidfile directory the user cannot reach: refused before anything starts, naming the blocking directory', async () => {
    const dir = tmpdir(); // mode 0700, root's
    fs.mkdirSync(path.join(dir, 'run'));
    const name = title();
    const r = await node(APP, ['--port', '0', '--host', '127.0.0.1', '--daemon', '-p', 'run/app.pid', '-l', 'app.log', '--name', name, '--user', 'nobody'], { cwd: dir });
    track(readPid(path.join(dir, 'run/app.pid')));
    expect(r.stderr).toContain(`with --user nobody, nobody must reach ${path.join(dir, 'run/app.pid')}, but ${dir} (mode 700) does not let it through; run "chmod o+x ${dir}"`);
    expect(r.code).toBe(1);
    expect(processesTitled(name)).toEqual([]);
  });

    test('--user as a non-root launcher: refused, needs root', async () => {
    const dir = tmpdir();
    fs.chownSync(dir, NOBODY, NOBODY);
    const name = title();
    const r = await run('setpriv', ['--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups', process.execPath, APP, '--port', '0', '--host', '127.0.0.1', '--daemon', '-p', 'app.pid', '-l', 'app.log', '--name', name, '--user', 'daemon'], { cwd: dir });
    track(readPid(path.join(dir, 'app.pid')));
    expect(r.stderr).toMatch(/--user daemon needs root; this launcher runs as uid 65534/);
    expect(r.code).toBe(2);
    expect(processesTitled(name)).toEqual([]);
  });
});
