// Issue 17, items 3 and 4: forkover's log on a disk that stops taking writes, and a log
// path that never takes them. A full log disk costs lines, never service, and the loss
// is written down once there is space; a log that takes no writes is refused at launch
// (contracts R1.7, R1.9: the launcher fails clearly and leaves nothing running).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { alive, cleanup, cli, fixture, get, node, processesTitled, readPid, tmpdir, track, waitUntil } from '../helpers/util.js';
import { mountTmpfs, unmountAll } from '../helpers/mounts.js';

const APP = fixture('app.mjs');
afterEach(async () => {
  unmountAll();
  await cleanup();
});

let seq = 0;
const title = () => `lg${process.pid % 10000}x${++seq}`;


/** Write `chunk` to `fd` until the kernel says ENOSPC (bounded: the tmpfs is 64 KiB). */
function fillWith(fd: number, chunk: Buffer, max: number): void {
  for (let i = 0; i < max; i++) {
    try {
      fs.writeSync(fd, chunk);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOSPC') return;
      throw err;
    }
  }
  throw new Error('the filesystem never filled up');
}

/**
 * Fill the tmpfs the log is on, then the log's own last page (tmpfs takes appends into
 * a page it already has), so that the next byte appended to the log fails with ENOSPC.
 */
function fillDisk(dir: string, logfile: string): void {
  const filler = fs.openSync(path.join(dir, 'filler'), 'w');
  try {
    fillWith(filler, Buffer.alloc(4096, 1), 1024);
  } finally {
    fs.closeSync(filler);
  }
  const log = fs.openSync(logfile, 'a');
  try {
    fillWith(log, Buffer.from('\n'), 8192);
  } finally {
    fs.closeSync(log);
  }
}

const meta = (pidfile: string) => JSON.parse(fs.readFileSync(`${pidfile}.meta`, 'utf8'));

describe('a full log disk (issue 17.3)', () => {
  test('the daemon keeps serving through 3 handoffs, status shows the failing log, and with space again one line counts the lines lost and when', async () => {
    const dir = tmpdir();
    const logs = path.join(dir, 'logs');
    mountTmpfs(logs, 'size=64k,mode=0755');
    const pidfile = path.join(dir, 'app.pid'); // the pidfile's disk has room: only the log's is full
    const logfile = path.join(logs, 'app.log');
    const name = title();
    const l = await node(APP, ['--port', '0', '--host', '127.0.0.1', '--daemon', '-p', pidfile, '-l', logfile, '--name', name, '--drain-timeout', '2'], { cwd: dir });
    const first = readPid(pidfile)!;
    track(first);
    expect(l.code).toBe(0);
    const port = Number(/127\.0\.0\.1:(\d+)/.exec(l.stdout)![1]);

    fillDisk(logs, logfile);
    const filledAt = new Date().toISOString();
    const fullSize = fs.statSync(logfile).size;
    let pid = first;
    for (let i = 0; i < 3; i++) {
      process.kill(pid, 'SIGUSR2');
      const next = await waitUntil(() => {
        const p = readPid(pidfile);
        return p !== undefined && p !== pid && alive(p) ? p : undefined;
      }, 15_000, `handoff ${i + 1}`);
      track(next);
      // One at a time: the old generation passes its count on as it exits.
      await waitUntil(() => !alive(pid), 15_000, `PID ${pid} to drain and exit`);
      expect((await get(port)).body).toBe(`hello from ${next}\n`);
      pid = next;
    }
    expect(fs.statSync(logfile).size).toBe(fullSize); // not a byte got in

    const status = await cli(['status', '-p', pidfile]);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain(`  log: ${logfile}: writes failing since `);
    expect(status.stdout).toContain('(ENOSPC)');
    const json = JSON.parse((await cli(['status', '-p', pidfile, '--json'])).stdout);
    expect(json.log).toEqual({ path: logfile, failing: { since: expect.any(String), error: 'ENOSPC' } });
    expect(json.log.failing.since >= filledAt).toBe(true);

    fs.rmSync(path.join(logs, 'filler'));
    const freedAt = new Date().toISOString();
    // Nothing else is logged meanwhile: the note comes out by itself.
    const m = await waitUntil(
      () => /(\S+) forkover\[(\d+)\]: (\d+) log lines dropped between (\S+) and (\S+) \(ENOSPC\)\n/.exec(fs.readFileSync(logfile, 'utf8')),
      20_000,
      'the dropped-lines note',
    );
    expect(Number(m[2])).toBe(pid);
    // Each handoff logs at least 5 lines: the old generation's "starting", "serves" and
    // "drained", the new one's "started" and "ready"; every one of them was lost.
    expect(Number(m[3])).toBeGreaterThanOrEqual(15);
    expect(m[4]! >= filledAt && m[4]! <= m[5]! && m[5]! <= freedAt).toBe(true);
    expect(fs.readFileSync(logfile, 'utf8').match(/log lines dropped/g)).toHaveLength(1);
    await waitUntil(() => meta(pidfile).log?.failing === null, 10_000, 'the sidecar to say the log works again');
    const after = JSON.parse((await cli(['status', '-p', pidfile, '--json'])).stdout);
    expect(after.log).toEqual({ path: logfile, failing: null });
    expect((await cli(['status', '-p', pidfile])).stdout).not.toContain('log:');
    console.log(`issue 17.3: ${m[0].trim()}`);
  });
});

describe('a log that takes no writes is refused at launch (issue 17.4)', () => {
  const refused = async (logArg: string, reason: RegExp) => {
    const dir = tmpdir();
    const name = title();
    const r = await node(APP, ['--port', '0', '--host', '127.0.0.1', '--daemon', '-p', 'app.pid', '-l', logArg, '--name', name], { cwd: dir, timeoutMs: 20_000 });
    track(readPid(path.join(dir, 'app.pid')));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(reason);
    expect(r.stderr).toContain('choose a regular file (or /dev/null)');
    expect(processesTitled(name)).toEqual([]);
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('app.pid') || f.startsWith('.app.pid'))).toEqual([]);
    return dir;
  };

  test('/proc/version (opens for writing as root, takes no write)', async () => {
    await refused('/proc/version', /cannot use \/proc\/version as the log: it does not take writes \(E[A-Z]+/);
  });

  test('/dev/full (a character device whose writes all fail)', async () => {
    await refused('/dev/full', /cannot use \/dev\/full as the log: it does not take writes \(ENOSPC/);
  });

  test('a FIFO (an open for writing would block forever without a reader)', async () => {
    const fifoDir = tmpdir();
    const fifo = path.join(fifoDir, 'log.fifo');
    execFileSync('mkfifo', [fifo]);
    await refused(fifo, /as the log: it is a FIFO, not a regular file/);
  });

  test('/dev/null is still fine', async () => {
    const dir = tmpdir();
    const r = await node(APP, ['--port', '0', '--host', '127.0.0.1', '--daemon', '-p', 'app.pid', '-l', '/dev/null', '--name', title()], { cwd: dir });
    track(readPid(path.join(dir, 'app.pid')));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });
});
