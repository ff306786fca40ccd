// Issue 5, item 1: identity before every signal (contracts R2.6, R10.2, R10.3).
// A pidfile names a PID that is not this daemon: a recycled PID with a stale record, a
// record of another title, a zombie, or a process of another user named by a file that
// user controls. status, stop and reload each warn naming the PID and signal nothing:
// status 1, stop 0, reload 7. The stand-in is a real `sleep`, which any of TERM, USR2,
// HUP or INT would kill: it still running proves it got none of them.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { main } from '../../src/cli.js';
import { alive, cleanup, cli, procStat, start, tmpdir, waitForOutput, waitUntil } from '../helpers/util.js';

afterEach(cleanup);

interface Captured {
  code: number;
  out: string;
  err: string;
}

/** The CLI in-process (style: test the CLI through main()). */
async function run(args: string[]): Promise<Captured> {
  let out = '';
  let err = '';
  const code = await main(args, { out: (t) => void (out += `${t}\n`), err: (t) => void (err += `${t}\n`), cwd: '/' });
  return { code, out, err };
}

/** Write a sidecar recording `record` as the leader, and the pidfile naming it. */
function forge(pidfile: string, record: { pid: number; starttime: number; title: string }): void {
  const state = {
    version: 1,
    leader: { ...record, startedAt: new Date().toISOString(), generation: 1 },
    workers: [record],
    draining: [],
    listeners: [{ name: 'http', address: '127.0.0.1:1' }],
    handoffSeq: 0,
    lastHandoff: null,
  };
  fs.writeFileSync(`${pidfile}.meta`, JSON.stringify(state));
  fs.writeFileSync(pidfile, `${record.pid}\n`);
}

function sleeper() {
  const s = start('sleep', ['60']);
  const st = procStat(s.pid!)!;
  return { child: s, pid: s.pid!, stat: st };
}

function untouched(s: ReturnType<typeof sleeper>): void {
  expect(s.child.exitCode).toBeNull();
  expect(s.child.signalCode).toBeNull();
  expect(alive(s.pid)).toBe(true);
  expect(procStat(s.pid)!.starttime).toBe(s.stat.starttime);
}

async function allThree(pidfile: string, pid: number, reason: RegExp): Promise<void> {
  const status = await run(['status', '-p', pidfile]);
  expect(status.code).toBe(1); // R6.2: dead, pidfile exists
  expect(status.err).toMatch(new RegExp(`warning: .*PID ${pid}`));
  expect(status.err).toMatch(reason);
  const stop = await run(['stop', '-p', pidfile, '--timeout', '1']);
  expect(stop.code).toBe(0); // R6.1: nothing of ours runs
  expect(stop.err).toMatch(new RegExp(`warning: stop: pidfile names PID ${pid}, which is not this daemon .*not signalling it`));
  expect(stop.err).toMatch(reason);
  const reload = await run(['reload', '-p', pidfile, '--timeout', '1']);
  expect(reload.code).toBe(7); // R6.1: not running
  expect(reload.err).toMatch(new RegExp(`warning: reload: pidfile names PID ${pid}, which is not this daemon .*not signalling it`));
  // A foreign PID's pidfile is left for an admin to look at; it is not "ours" to remove.
  expect(fs.readFileSync(pidfile, 'utf8')).toBe(`${pid}\n`);
}

describe('a recycled PID is never signalled (R2.6, R10.3)', () => {
  test('record of the same title but another start time: status 1, stop 0, reload 7, each warns, no signal', async () => {
    const dir = tmpdir();
    const pidfile = path.join(dir, 'app.pid');
    const s = sleeper();
    // The daemon that wrote this record had the same PID and title, and started earlier.
    forge(pidfile, { pid: s.pid, starttime: s.stat.starttime - 100, title: s.stat.comm });
    await allThree(pidfile, s.pid, /the PID was reused/);
    untouched(s);
  });

  test('record of the right start time but another title: foreign, no signal', async () => {
    const dir = tmpdir();
    const pidfile = path.join(dir, 'app.pid');
    const s = sleeper();
    forge(pidfile, { pid: s.pid, starttime: s.stat.starttime, title: 'myapp' });
    await allThree(pidfile, s.pid, /titled "sleep", not "myapp"/);
    untouched(s);
  });

  test('a pidfile without a sidecar names no daemon of ours (real CLI binary)', async () => {
    const dir = tmpdir();
    const pidfile = path.join(dir, 'app.pid');
    const s = sleeper();
    fs.writeFileSync(pidfile, `${s.pid}\n`);
    const reload = await cli(['reload', '-p', pidfile, '--timeout', '1']);
    expect(reload.code).toBe(7);
    expect(reload.stderr).toMatch(new RegExp(`PID ${s.pid} \\(sleep\\) has no forkover record`));
    const stop = await cli(['stop', '-p', pidfile, '--timeout', '1']);
    expect(stop.code).toBe(0);
    untouched(s);
  });

  test('a zombie with a matching record: each command warns naming it, none signals', async () => {
    const dir = tmpdir();
    const pidfile = path.join(dir, 'app.pid');
    // python forks a child that exits at once, and never reaps it (no SIGCHLD handling).
    const holder = start('python3', ['-c', 'import os, sys, time\np = os.fork()\nif p == 0: os._exit(0)\nprint(p, flush=True)\ntime.sleep(60)']);
    const zombie = Number((await waitForOutput(holder, /^(\d+)\n/))[1]);
    await waitUntil(() => procStat(zombie)?.state === 'Z', 5_000, 'the zombie');
    const st = procStat(zombie)!;
    forge(pidfile, { pid: zombie, starttime: st.starttime, title: st.comm });
    const status = await run(['status', '-p', pidfile]);
    expect(status.code).toBe(1);
    expect(status.err).toContain(`PID ${zombie} is a zombie`);
    const reload = await run(['reload', '-p', pidfile, '--timeout', '1']);
    expect(reload.code).toBe(7);
    expect(reload.err).toMatch(new RegExp(`warning: reload: .*PID ${zombie}.*zombie`));
    const stop = await run(['stop', '-p', pidfile, '--timeout', '1']);
    expect(stop.code).toBe(0);
    expect(stop.err).toMatch(new RegExp(`warning: stop: .*PID ${zombie}.*zombie`));
    // A dead PID's pidfile is ours to clean up (R2.7).
    expect(fs.existsSync(pidfile)).toBe(false);
    expect(holder.exitCode).toBeNull(); // its parent got nothing either
  });
});

describe('a pidfile an unprivileged user controls (R10.2)', () => {
  test("a pidfile and record owned by nobody, naming root's process with a perfect record: not signalled", async () => {
    const dir = tmpdir();
    const pidfile = path.join(dir, 'app.pid');
    const s = sleeper(); // runs as root, like sshd would
    forge(pidfile, { pid: s.pid, starttime: s.stat.starttime, title: s.stat.comm });
    fs.chownSync(pidfile, 65534, 65534);
    fs.chownSync(`${pidfile}.meta`, 65534, 65534);
    await allThree(pidfile, s.pid, /belongs to uid 65534, but PID \d+ runs as uid 0/);
    untouched(s);
    // The same record in root's files is trusted: the rule is about who controls the file.
    fs.chownSync(pidfile, 0, 0);
    fs.chownSync(`${pidfile}.meta`, 0, 0);
    expect((await run(['status', '-p', pidfile])).code).toBe(0);
  });
});
