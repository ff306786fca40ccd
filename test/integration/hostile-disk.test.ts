// Issue 5, item 4: full and read-only filesystems, on real tmpfs mounts (contracts R2.3,
// R2.4, R1.9). A pidfile write that fails leaves the old pidfile intact and no temp
// file; the launcher fails clearly and leaves nothing running.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { main } from '../../src/cli.js';
import { cleanup, fixture, get, node, processesTitled, readPid, run, tmpdir, track, waitUntil } from '../helpers/util.js';
import { mountTmpfs, unmountAll } from '../helpers/mounts.js';

const APP = fixture('app.mjs');
afterEach(async () => {
  unmountAll();
  await cleanup();
});

let seq = 0;
const title = () => `dk${process.pid % 10000}x${++seq}`;


/** Fill the filesystem at `dir` until the kernel says ENOSPC (bounded: 64 KiB tmpfs). */
function fill(dir: string): void {
  const fd = fs.openSync(path.join(dir, 'filler'), 'w');
  const chunk = Buffer.alloc(4096, 1);
  try {
    for (let i = 0; i < 1024; i++) fs.writeSync(fd, chunk);
    throw new Error(`${dir} never filled up`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    fs.closeSync(fd);
  }
}

const temps = (dir: string) => fs.readdirSync(dir).filter((f) => f.endsWith('.tmp') || f.endsWith('.lock'));

async function ctl(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(args, { out: (t) => void (out += `${t}\n`), err: (t) => void (err += `${t}\n`), cwd: '/' });
  return { code, out, err };
}

describe('a full filesystem (64 KiB tmpfs)', () => {
  test('a handoff whose new generation cannot write the pidfile rolls back: old pidfile intact, no temp file; with space again, reload works', async () => {
    const dir = tmpdir();
    const run = path.join(dir, 'run');
    mountTmpfs(run, 'size=64k,mode=0755');
    const pidfile = path.join(run, 'app.pid');
    const logfile = path.join(dir, 'app.log'); // the log lives elsewhere: only the pidfile's disk is full
    const name = title();
    const l = await node(APP, ['--port', '0', '--host', '127.0.0.1', '--daemon', '-p', pidfile, '-l', logfile, '--name', name, '--upgrade-timeout', '10'], { cwd: dir });
    const pid = readPid(pidfile)!;
    track(pid);
    expect(l.code).toBe(0);
    const port = Number(/127\.0\.0\.1:(\d+)/.exec(l.stdout)![1]);
    const metaBefore = fs.readFileSync(`${pidfile}.meta`, 'utf8');
    fill(run);

    process.kill(pid, 'SIGUSR2');
    const log = await waitUntil(() => {
      const t = fs.readFileSync(logfile, 'utf8');
      return /handoff 1 rolled back/.test(t) && t;
    }, 15_000, 'the rollback in the log');
    const newPid = Number(/forkover\[(\d+)\]: generation started by PID/.exec(log)![1]);
    track(newPid);
    expect(log).toMatch(new RegExp(`forkover\\[${newPid}\\]: cannot start: cannot write ${pidfile}.meta: ENOSPC`));
    expect(log).toMatch(/previous file is unchanged/);
    // R2.4: the old generation keeps serving and the pidfile still names it, byte for byte.
    expect(fs.readFileSync(pidfile, 'utf8')).toBe(`${pid}\n`);
    expect(JSON.parse(fs.readFileSync(`${pidfile}.meta`, 'utf8')).leader.pid).toBe(pid);
    expect(fs.readFileSync(`${pidfile}.meta`, 'utf8')).toBe(metaBefore); // its own rollback record could not be written either
    expect(temps(run)).toEqual([]);
    expect(processesTitled(name)).toEqual([pid]);
    expect((await get(port)).body).toBe(`hello from ${pid}\n`);

    fs.rmSync(path.join(run, 'filler'));
    const r = await ctl(['reload', '-p', pidfile, '--timeout', '15']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const pid3 = readPid(pidfile)!;
    track(pid3);
    expect((await get(port)).body).toBe(`hello from ${pid3}\n`);
  });

  test('a fresh start fails clearly: no process, no pidfile, no temp file, no lock', async () => {
    const dir = tmpdir();
    const run = path.join(dir, 'run');
    mountTmpfs(run, 'size=64k,mode=0755');
    fill(run);
    const name = title();
    const r = await node(APP, ['--port', '0', '--host', '127.0.0.1', '--daemon', '-p', 'run/app.pid', '-l', 'app.log', '--name', name], { cwd: dir });
    track(readPid(path.join(run, 'app.pid')));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/failed to start: cannot (write|create the lock) .*run\/app\.pid.*ENOSPC/);
    expect(processesTitled(name)).toEqual([]);
    expect(fs.readdirSync(run)).toEqual(['filler']);
  });
});

describe('read-only directories', () => {
  test('a read-only pidfile directory: the launcher refuses before starting anything, naming it', async () => {
    const dir = tmpdir();
    const run = path.join(dir, 'run');
    mountTmpfs(run, 'ro,size=64k,mode=0755');
    const name = title();
    const r = await node(APP, ['--port', '0', '--host', '127.0.0.1', '--daemon', '-p', 'run/app.pid', '-l', 'app.log', '--name', name], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`pidfile directory ${run} is not writable (EROFS); make it writable, or mount it read-write`);
    expect(processesTitled(name)).toEqual([]);
    expect(fs.readdirSync(run)).toEqual([]);
  });

  test('a read-only log directory: the launcher fails clearly, nothing running, no pidfile', async () => {
    const dir = tmpdir();
    const logs = path.join(dir, 'logs');
    mountTmpfs(logs, 'ro,size=64k,mode=0755');
    const name = title();
    const r = await node(APP, ['--port', '0', '--host', '127.0.0.1', '--daemon', '-p', 'app.pid', '-l', 'logs/app.log', '--name', name], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`cannot open log file ${logs}/app\\.log: EROFS.*; create its directory or fix its permissions`));
    expect(processesTitled(name)).toEqual([]);
    expect(fs.existsSync(path.join(dir, 'app.pid'))).toBe(false);
  });

  test('as an unprivileged user, a directory of root with mode 0755: the launcher refuses it (pidfile) or fails to open the log, nothing running', async () => {
    const dir = tmpdir();
    fs.chmodSync(dir, 0o755);
    const mine = path.join(dir, 'mine');
    const roots = path.join(dir, 'roots');
    fs.mkdirSync(mine);
    fs.mkdirSync(roots, { mode: 0o755 });
    fs.chownSync(mine, 65534, 65534);
    const asNobody = (args: string[]) =>
      run('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', process.execPath, APP, '--port', '0', '--host', '127.0.0.1', '--daemon', ...args], { cwd: mine });
    const name = title();
    const a = await asNobody(['-p', `${roots}/app.pid`, '-l', `${mine}/app.log`, '--name', name]);
    expect(a.code).toBe(1);
    expect(a.stderr).toContain(`pidfile directory ${roots} is not writable (EACCES)`);
    const b = await asNobody(['-p', `${mine}/app.pid`, '-l', `${roots}/app.log`, '--name', name]);
    expect(b.code).toBe(1);
    expect(b.stderr).toMatch(new RegExp(`cannot open log file ${roots}/app\\.log: EACCES`));
    expect(processesTitled(name)).toEqual([]);
    expect(fs.readdirSync(roots)).toEqual([]);
    expect(fs.existsSync(`${mine}/app.pid`)).toBe(false);
  });
});
