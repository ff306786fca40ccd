// Issue 5, item 2: src/pidfile.ts against hostile files (contracts R2.1, R2.3, R2.8, R10.1).
// Real files in a fresh directory: planted symlinks at the target and at the temp path,
// pidfiles holding garbage, and directories others could write to.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkDirectory, checkLink, lockPidfile, lockPath, readPid, removeIfOwn, writeFileAtomic, writePid } from '../../src/pidfile.js';
import { isForkoverError } from '../../src/errors.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkover-pidfile-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function victim(): string {
  const v = path.join(dir, 'victim');
  fs.writeFileSync(v, 'precious\n');
  return v;
}

describe('writeFileAtomic never follows a planted link (R2.3, R10.1)', () => {
  test('a symlink at the pidfile path is replaced, its target untouched', () => {
    const v = victim();
    const pidfile = path.join(dir, 'app.pid');
    fs.symlinkSync(v, pidfile);
    writePid(pidfile, 4242);
    expect(fs.readFileSync(v, 'utf8')).toBe('precious\n');
    expect(fs.lstatSync(pidfile).isSymbolicLink()).toBe(false);
    expect(fs.readFileSync(pidfile, 'utf8')).toBe('4242\n');
    expect(fs.statSync(pidfile).mode & 0o777).toBe(0o644); // R2.8
  });

  test('a symlink at the temp path (.app.pid.<pid>.tmp) makes the write fail; victim, link and old pidfile untouched', () => {
    const v = victim();
    const pidfile = path.join(dir, 'app.pid');
    fs.writeFileSync(pidfile, '1234\n');
    const tmp = path.join(dir, `.app.pid.${process.pid}.tmp`);
    fs.symlinkSync(v, tmp);
    let caught: unknown;
    try {
      writePid(pidfile, 4242);
    } catch (err) {
      caught = err;
    }
    expect(isForkoverError(caught, 'PIDFILE_WRITE')).toBe(true);
    expect((caught as Error).message).toMatch(/cannot write .*app\.pid: .*EEXIST.*previous file is unchanged/);
    expect(fs.readFileSync(v, 'utf8')).toBe('precious\n');
    expect(fs.lstatSync(tmp).isSymbolicLink()).toBe(true); // not ours: left alone
    expect(fs.readFileSync(pidfile, 'utf8')).toBe('1234\n');
  });

  test('a dangling symlink at the temp path is not followed into creating its target either', () => {
    const pidfile = path.join(dir, 'app.pid');
    const target = path.join(dir, 'would-be-created');
    fs.symlinkSync(target, path.join(dir, `.app.pid.${process.pid}.tmp`));
    expect(() => writeFileAtomic(pidfile, '1\n', 0o644)).toThrow(/EEXIST/);
    expect(fs.existsSync(target)).toBe(false);
    expect(fs.existsSync(pidfile)).toBe(false);
  });

  test('removeIfOwn on a pidfile that is a link removes the link, never its target', () => {
    const pidfile = path.join(dir, 'app.pid');
    const real = path.join(dir, 'real');
    fs.writeFileSync(real, '4242\n');
    fs.symlinkSync(real, pidfile);
    expect(removeIfOwn(pidfile, 4242)).toBe(true);
    expect(fs.existsSync(real)).toBe(true);
    expect(fs.existsSync(pidfile)).toBe(false);
  });
});

describe('readPid: a clear PIDFILE_INVALID for everything but "PID\\n" (R2.1)', () => {
  const cases: [string, string | Buffer, RegExp][] = [
    ['garbage', 'hello world\n', /does not hold a PID \(its first line is not a number\); remove it/],
    ['empty', '', /is empty; remove it/],
    ['blank line', '\n\n', /is empty; remove it/],
    ['negative', '-42\n', /holds -42, which is no daemon's PID; remove it/],
    ['zero', '0\n', /holds 0, which is no daemon's PID/],
    ['init', '1\n', /holds 1, which is no daemon's PID/],
    ['beyond pid_max', '99999999999\n', /holds 99999999999, which is no daemon's PID/],
    ['huge', Buffer.alloc(1024 * 1024, '7'), /is 1048576 bytes, too large to hold a PID; remove it/],
    ['binary', Buffer.from([0xff, 0x00, 0x41, 0x0a]), /does not hold a PID \(its first line is not a number\); remove it/],
  ];
  test.each(cases)('%s', (_name, content, message) => {
    const pidfile = path.join(dir, 'app.pid');
    fs.writeFileSync(pidfile, content);
    let caught: unknown;
    try {
      readPid(pidfile);
    } catch (err) {
      caught = err;
    }
    expect(isForkoverError(caught, 'PIDFILE_INVALID')).toBe(true);
    expect((caught as Error).message).toContain(pidfile);
    expect((caught as Error).message).toMatch(message);
  });

  test('a FIFO at the pidfile path does not block the reader', () => {
    const pidfile = path.join(dir, 'app.pid');
    const r = spawnSync('mkfifo', [pidfile]);
    expect(r.status).toBe(0);
    expect(() => readPid(pidfile)).toThrow(/is not a regular file; remove it/);
  });

  test('the first line is all that counts (systemd, LSB read the first integer)', () => {
    const pidfile = path.join(dir, 'app.pid');
    fs.writeFileSync(pidfile, '4242\nextra\n');
    expect(readPid(pidfile)).toBe(4242);
    expect(readPid(path.join(dir, 'missing.pid'))).toBeUndefined();
  });
});

describe('checkDirectory and checkLink (R2.8, R10.1)', () => {
  test('group- or world-writable without sticky: refused, naming the directory and the fix', () => {
    for (const mode of [0o775, 0o757, 0o777]) {
      fs.chmodSync(dir, mode);
      expect(() => checkDirectory(dir, 'pidfile', [0])).toThrow(
        new RegExp(`pidfile directory ${dir} is writable by group or others \\(mode ${mode.toString(8)}\\); run "chmod go-w ${dir}"`),
      );
    }
    fs.chmodSync(dir, 0o1777); // sticky, like /tmp: temp + rename keeps it safe
    expect(() => checkDirectory(dir, 'pidfile', [0])).not.toThrow();
    fs.chmodSync(dir, 0o755);
    expect(() => checkDirectory(dir, 'pidfile', [0])).not.toThrow();
  });

  test('owned by a user other than root or the daemon: refused', () => {
    fs.chownSync(dir, 65534, 65534);
    expect(() => checkDirectory(dir, 'log', [0])).toThrow(/log directory .* belongs to uid 65534, not to root or the daemon's user/);
    expect(() => checkDirectory(dir, 'log', [0, 65534])).not.toThrow();
  });

  test('a symlink is followed only when it and its directory belong to root or the daemon user', () => {
    const target = path.join(dir, 'real.log');
    const link = path.join(dir, 'app.log');
    fs.symlinkSync(target, link);
    expect(() => checkLink(link, 'log file', [0])).not.toThrow();
    fs.lchownSync(link, 65534, 65534);
    expect(() => checkLink(link, 'log file', [0])).toThrow(/log file .*app\.log is a symlink owned by uid 65534/);
    expect(() => checkLink(link, 'log file', [0, 65534])).not.toThrow();
    expect(() => checkLink(target, 'log file', [0])).not.toThrow(); // absent: nothing to check
  });
});

describe('lockPidfile (R2.5): a mkdir when nobody holds it, proper-lockfile when someone does', () => {
  test('uncontended: the lock is the directory, and release removes it', async () => {
    const pidfile = path.join(dir, 'app.pid');
    const release = await lockPidfile(pidfile, 1_000);
    expect(fs.statSync(lockPath(pidfile)).isDirectory()).toBe(true);
    await release();
    expect(fs.existsSync(lockPath(pidfile))).toBe(false);
  });

  test('a lock another start holds (fresh directory) is waited for, then refused with PIDFILE_LOCKED', async () => {
    const pidfile = path.join(dir, 'app.pid');
    fs.mkdirSync(lockPath(pidfile));
    const err = await lockPidfile(pidfile, 300).catch((e: unknown) => e);
    expect(isForkoverError(err, 'PIDFILE_LOCKED')).toBe(true);
    expect(fs.statSync(lockPath(pidfile)).isDirectory()).toBe(true); // still the holder's
  });

  test('a stale lock (a holder killed mid-start) is broken and taken, and released', async () => {
    const pidfile = path.join(dir, 'app.pid');
    fs.mkdirSync(lockPath(pidfile));
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(lockPath(pidfile), old, old);
    const release = await lockPidfile(pidfile, 1_000);
    expect(fs.statSync(lockPath(pidfile)).mtimeMs).toBeGreaterThan(old.getTime());
    await release();
    expect(fs.existsSync(lockPath(pidfile))).toBe(false);
  });

  test('a directory that refuses the lock is PIDFILE_WRITE, not a competing start', async () => {
    const err = await lockPidfile(path.join(dir, 'missing', 'app.pid'), 1_000).catch((e: unknown) => e);
    expect(isForkoverError(err, 'PIDFILE_WRITE')).toBe(true);
  });
});
