// Issue 5, item 2: path safety through the real launcher (contracts R2.3, R2.8, R10.1).
// Planted symlinks at the pidfile and sidecar, a log link planted by another user,
// directories others can write to, and pidfiles holding garbage.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { main } from '../../src/cli.js';
import { alive, cleanup, fixture, get, node, processesTitled, readPid, startDaemon, tmpdir, track } from '../helpers/util.js';

const APP = fixture('app.mjs');
afterEach(cleanup);

let seq = 0;
/** A title no other test uses, so processesTitled() finds only this test's processes. */
const title = () => `hp${process.pid % 10000}x${++seq}`;

async function ctl(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(args, { out: (t) => void (out += `${t}\n`), err: (t) => void (err += `${t}\n`), cwd: '/' });
  return { code, out, err };
}

/** Start the fixture app as a daemon, expecting the launcher to refuse. */
async function refused(dir: string, name: string, args: string[]) {
  const r = await node(APP, ['--port', '0', '--host', '127.0.0.1', '--daemon', '--name', name, ...args], { cwd: dir });
  track(readPid(path.join(dir, 'app.pid')));
  expect(r.code).not.toBe(0);
  expect(processesTitled(name)).toEqual([]); // nothing left running
  return r;
}

describe('planted symlinks are replaced, never followed (R2.3, R10.1)', () => {
  test('links at app.pid and app.pid.meta pointing at victims: the daemon starts, the victims are untouched', async () => {
    const dir = tmpdir();
    const victim = path.join(dir, 'victim');
    const victimMeta = path.join(dir, 'victim-meta');
    fs.writeFileSync(victim, 'precious\n');
    fs.writeFileSync(victimMeta, 'also precious\n');
    fs.symlinkSync(victim, path.join(dir, 'app.pid'));
    fs.symlinkSync(victimMeta, path.join(dir, 'app.pid.meta'));
    const d = await startDaemon(dir, ['--name', title()], APP);
    expect(fs.readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(fs.readFileSync(victimMeta, 'utf8')).toBe('also precious\n');
    expect(fs.lstatSync(d.pidfile).isSymbolicLink()).toBe(false);
    expect(fs.lstatSync(`${d.pidfile}.meta`).isSymbolicLink()).toBe(false);
    expect(fs.readFileSync(d.pidfile, 'utf8')).toBe(`${d.pid}\n`);
    expect((await get(d.port)).body).toBe(`hello from ${d.pid}\n`);
    expect((await ctl(['stop', '-p', d.pidfile])).code).toBe(0);
    expect(fs.existsSync(d.pidfile)).toBe(false);
    expect(fs.readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(fs.readFileSync(victimMeta, 'utf8')).toBe('also precious\n');
  });
});

describe('log file symlinks (R10.1)', () => {
  test('a link planted by nobody is refused; the same link made by root is followed', async () => {
    const dir = tmpdir();
    const data = path.join(dir, 'data');
    fs.mkdirSync(data);
    const target = path.join(data, 'app.log');
    const link = path.join(dir, 'app.log');
    fs.symlinkSync(target, link);
    fs.lchownSync(link, 65534, 65534);
    const name = title();
    const r = await refused(dir, name, ['-p', 'app.pid', '-l', 'app.log']);
    expect(r.stderr).toContain(`log file ${link} is a symlink owned by uid 65534`);
    expect(r.stderr).toMatch(/remove it, or recreate it as root/);
    expect(fs.existsSync(target)).toBe(false); // never opened through the link
    expect(fs.existsSync(path.join(dir, 'app.pid'))).toBe(false);

    fs.lchownSync(link, 0, 0); // /var/log/app.log -> /data/app.log, set up by the admin
    const d = await startDaemon(dir, ['--name', name], APP);
    expect(fs.readFileSync(target, 'utf8')).toContain(`forkover[${d.pid}]: ready`);
  });
});

describe('directories others can write to (R2.8)', () => {
  test('a group-writable pidfile directory is refused, naming it and the fix; nothing starts', async () => {
    const dir = tmpdir();
    const run = path.join(dir, 'run');
    fs.mkdirSync(run);
    fs.chmodSync(run, 0o775);
    const r = await refused(dir, title(), ['-p', 'run/app.pid', '-l', 'app.log']);
    expect(r.stderr).toContain(`pidfile directory ${run} is writable by group or others (mode 775); run "chmod go-w ${run}"`);
    expect(fs.readdirSync(run)).toEqual([]);
  });

  test('a world-writable log directory is refused; a sticky one (like /tmp) is accepted', async () => {
    const dir = tmpdir();
    const logs = path.join(dir, 'logs');
    fs.mkdirSync(logs);
    fs.chmodSync(logs, 0o777);
    const name = title();
    const r = await refused(dir, name, ['-p', 'app.pid', '-l', 'logs/app.log']);
    expect(r.stderr).toContain(`log directory ${logs} is writable by group or others (mode 777); run "chmod go-w ${logs}"`);
    expect(fs.existsSync(path.join(logs, 'app.log'))).toBe(false);
    fs.chmodSync(logs, 0o1777);
    const d = await node(APP, ['--port', '0', '--host', '127.0.0.1', '--daemon', '--name', name, '-p', 'app.pid', '-l', 'logs/app.log'], { cwd: dir });
    track(readPid(path.join(dir, 'app.pid')));
    expect(d.code).toBe(0);
  });
});

describe('pidfiles holding no usable PID (R2.1)', () => {
  const bad: [string, string | Buffer, RegExp][] = [
    ['garbage', 'not a pid\n', /does not hold a PID \(its first line is not a number\); remove it/],
    ['empty', '', /is empty; remove it/],
    ['negative', '-7\n', /holds -7, which is no daemon's PID; remove it/],
    ['zero', '0\n', /holds 0, which is no daemon's PID; remove it/],
    ['one', '1\n', /holds 1, which is no daemon's PID; remove it/],
    ['huge', Buffer.alloc(256 * 1024, '9'), /is 262144 bytes, too large to hold a PID; remove it/],
  ];
  test.each(bad)('%s: status 4, stop 1, reload 1, each naming the file and the fix; nothing signalled', async (_n, content, message) => {
    const dir = tmpdir();
    const pidfile = path.join(dir, 'app.pid');
    fs.writeFileSync(pidfile, content);
    const status = await ctl(['status', '-p', pidfile]);
    expect(status.code).toBe(4); // R6.2: unknown
    expect(status.err + status.out).toMatch(message);
    expect(status.err + status.out).toContain(pidfile);
    const stop = await ctl(['stop', '-p', pidfile, '--timeout', '1']);
    expect(stop.code).toBe(1);
    expect(stop.err).toMatch(message);
    const reload = await ctl(['reload', '-p', pidfile, '--timeout', '1']);
    expect(reload.code).toBe(1);
    expect(reload.err).toMatch(message);
    expect(fs.readFileSync(pidfile).equals(Buffer.from(content))).toBe(true); // left for the admin
    expect(alive(1)).toBe(true); // "1" was not signalled either: PID 1 still lives
  });

  test.each([
    ['garbage', 'not a pid\n'],
    ['huge', Buffer.alloc(256 * 1024, '9')],
  ])('start over a %s pidfile replaces it and says why in the log', async (_n, content) => {
    const dir = tmpdir();
    fs.writeFileSync(path.join(dir, 'app.pid'), content);
    const d = await startDaemon(dir, ['--name', title()], APP);
    expect(fs.readFileSync(d.pidfile, 'utf8')).toBe(`${d.pid}\n`);
    expect(fs.readFileSync(d.logfile, 'utf8')).toMatch(/replacing unusable pidfile: pidfile .*app\.pid (does not hold a PID|is 262144 bytes)/);
  });
});
