// Issue 17, items 1 and 2: a generation that stops running for a while (SIGSTOP here; a
// long GC pause or a blocking call does the same) in the middle of a handoff or of a
// `forkover reload`. The outcome must follow what happened, not when the stalled process
// got to run again (contracts R3.3, R3.4, R3.5).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { alive, cleanup, cli, fixture, get, load, procStat, readPid, startDaemon, tmpdir, track, waitUntil } from '../helpers/util.js';

const APP = fixture('app.mjs');
const stopped: number[] = [];

afterEach(async () => {
  // A stopped process dies of SIGKILL too, but resume ours first so nothing is left
  // stopped if cleanup's kill is refused for some reason.
  for (const pid of stopped.splice(0)) {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // gone
    }
  }
  await cleanup();
});

let seq = 0;
const title = () => `st${process.pid % 10000}x${++seq}`;

function stop(pid: number): Promise<unknown> {
  stopped.push(pid);
  process.kill(pid, 'SIGSTOP');
  return waitUntil(() => procStat(pid)?.state === 'T', 5_000, `PID ${pid} to be stopped`);
}

const meta = (pidfile: string) => JSON.parse(fs.readFileSync(`${pidfile}.meta`, 'utf8'));

describe('the old generation stalls past --upgrade-timeout while its successor becomes ready (issue 17.1)', () => {
  test('under load: the successor keeps serving and is named in the pidfile, 0 failed requests, the log says what happened', async () => {
    const dir = tmpdir();
    const modeFile = path.join(dir, 'mode');
    fs.writeFileSync(modeFile, 'gated\n');
    const name = title();
    const d = await startDaemon(dir, ['--name', name, '--mode-file', modeFile, '--upgrade-timeout', '2', '--drain-timeout', '5'], APP);
    const logText = () => fs.readFileSync(d.logfile, 'utf8');
    const l = load(d.port, { concurrency: 8 });
    await waitUntil(() => l.stats.ok > 50, 15_000, 'load to flow');

    process.kill(d.pid, 'SIGUSR2');
    const m = await waitUntil(() => new RegExp(`forkover\\[(\\d+)\\]: generation started by PID ${d.pid}`).exec(logText()), 15_000, 'the new generation to start');
    const newPid = Number(m[1]);
    track(newPid);
    // The old generation has spawned the successor and armed its 2 s timer; stop it before
    // the successor may report ready (the gate), then let the successor go.
    await stop(d.pid);
    const stoppedAt = Date.now();
    fs.writeFileSync(`${modeFile}.go`, '');
    await waitUntil(() => readPid(d.pidfile) === newPid, 15_000, 'the successor to name itself in the pidfile');
    expect(logText()).not.toMatch(new RegExp(`forkover\\[${d.pid}\\]: handoff 1`)); // the old one has decided nothing yet
    // The stall itself, the condition under test (not a synchronisation): the old
    // generation's deadline passes while it cannot run.
    await delay(Math.max(0, 3_000 - (Date.now() - stoppedAt)));
    process.kill(d.pid, 'SIGCONT');

    const outcome = await waitUntil(() => new RegExp(`forkover\\[${d.pid}\\]: handoff 1(:| rolled back).*`).exec(logText())?.[0], 15_000, 'the old generation to decide');
    expect(outcome).toMatch(new RegExp(`handoff 1: PID ${newPid} serves .*stalled.*; draining`));
    expect(logText()).not.toMatch(/did not become ready/);
    await waitUntil(() => !alive(d.pid), 15_000, 'the old generation to drain and exit');
    await waitUntil(() => l.stats.pids.has(String(newPid)) && l.stats.ok > 200, 15_000, 'the successor to serve the load');
    const stats = await l.stop();
    expect({ failed: stats.failed, byKind: stats.byKind, errors: stats.errors }).toEqual({ failed: 0, byKind: {}, errors: [] });
    expect(readPid(d.pidfile)).toBe(newPid);
    expect(alive(newPid)).toBe(true);
    expect((await get(d.port)).body).toBe(`hello from ${newPid}\n`);
    const status = await cli(['status', '-p', d.pidfile, '--json']);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ pid: newPid, generation: 2, lastHandoff: { seq: 1, outcome: 'ok', oldPid: d.pid, newPid } });
    console.log(`issue 17.1: ${stats.ok} requests ok, ${stats.failed} failed; ${outcome}`);
  });
});
