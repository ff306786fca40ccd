// Issue 17, item 6: messages that said something untrue or too much. A rollback during
// a stop says the generation stops, not that it keeps serving; `stop` on a dead PID says
// it is not running (R2.6: a dead PID is not "not this daemon"); `status` on a path that
// leads to a file that is no pidfile prints nothing of that file (R2.1).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { alive, cleanup, cli, fixture, readPid, run, startDaemon, tmpdir, track, waitUntil } from '../helpers/util.js';

const APP = fixture('app.mjs');
afterEach(cleanup);

let seq = 0;
const title = () => `wd${process.pid % 10000}x${++seq}`;

test('USR2 then TERM at once: the rolled-back handoff says this generation stops, then it stops', async () => {
  const dir = tmpdir();
  const modeFile = path.join(dir, 'mode');
  fs.writeFileSync(modeFile, 'gated\n'); // the new generation waits for a gate that never opens
  const d = await startDaemon(dir, ['--name', title(), '--mode-file', modeFile, '--upgrade-timeout', '30'], APP);
  const logText = () => fs.readFileSync(d.logfile, 'utf8');
  process.kill(d.pid, 'SIGUSR2');
  const m = await waitUntil(() => new RegExp(`forkover\\[(\\d+)\\]: generation started by PID ${d.pid}`).exec(logText()), 15_000, 'the new generation to start');
  track(Number(m[1]));
  process.kill(d.pid, 'SIGTERM');
  await waitUntil(() => !alive(d.pid), 15_000, 'the daemon to stop');
  const text = logText();
  expect(text).toMatch(new RegExp(`forkover\\[${d.pid}\\]: handoff 1 rolled back: the handoff was abandoned; new process ${m[1]} was killed; PID ${d.pid} stops now, as asked\\n`));
  expect(text).not.toContain('keeps serving');
  expect(text).toMatch(new RegExp(`forkover\\[${d.pid}\\]: stopped\\n`));
  expect(fs.existsSync(d.pidfile)).toBe(false);
});

test('stop on a pidfile naming a dead PID: it says the PID is not running, not that it is "not this daemon"', async () => {
  const dir = tmpdir();
  const pidfile = path.join(dir, 'app.pid');
  const gone = await run('sh', ['-c', 'echo $$']); // a PID that was ours a moment ago, now gone
  const pid = Number(gone.stdout.trim());
  await waitUntil(() => !alive(pid), 5_000, 'the PID to be gone');
  fs.writeFileSync(pidfile, `${pid}\n`);
  const r = await cli(['stop', '-p', pidfile]);
  expect(r.code).toBe(0); // R6.1: stop when stopped is success
  expect(r.stderr).toBe(`warning: stop: pidfile names PID ${pid}, which is not running; removed the stale pidfile\n`);
  expect(r.stdout).toBe('not running\n');
  expect(fs.existsSync(pidfile)).toBe(false);
  fs.writeFileSync(pidfile, `${pid}\n`);
  const reload = await cli(['reload', '-p', pidfile]);
  expect(reload.code).toBe(7);
  expect(reload.stderr).toBe(`warning: reload: pidfile names PID ${pid}, which is not running; start the daemon instead\n`);
});

test('status on a pidfile that is a symlink to /etc/passwd prints nothing of that file', async () => {
  const dir = tmpdir();
  const pidfile = path.join(dir, 'app.pid');
  fs.symlinkSync('/etc/passwd', pidfile);
  const firstLine = fs.readFileSync('/etc/passwd', 'utf8').split('\n')[0]!;
  expect(firstLine.length).toBeGreaterThan(0);
  for (const args of [['status', '-p', pidfile], ['status', '-p', pidfile, '--json'], ['stop', '-p', pidfile], ['reload', '-p', pidfile]]) {
    const r = await cli(args);
    const out = r.stdout + r.stderr;
    expect(out).toContain(`pidfile ${pidfile} does not hold a PID (its first line is not a number, and it is a symlink to /etc/passwd); remove it`);
    for (const field of firstLine.split(':').filter((f) => f.length > 1)) expect(`${args.join(' ')}: ${out.includes(field)}`).toBe(`${args.join(' ')}: false`);
  }
  expect((await cli(['status', '-p', pidfile])).code).toBe(4); // R6.2: unknown
  expect(readPid(pidfile)).toBeUndefined();
});
