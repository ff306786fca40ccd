// Issue 17, items 1 and 2: a generation that stops running for a while (SIGSTOP here; a
// long GC pause or a blocking call does the same) in the middle of a handoff or of a
// `forkover reload`. The outcome must follow what happened, not when the stalled process
// got to run again (contracts R3.3, R3.4, R3.5).
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as http from 'node:http';
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

describe('forkover reload and a stalled daemon (issue 17.2)', () => {
  test('a stopped daemon (state T): reload says so and exits 1 at once without signalling; once resumed, nothing happens until the next reload', async () => {
    const dir = tmpdir();
    const d = await startDaemon(dir, ['--name', title(), '--upgrade-timeout', '2'], APP);
    await stop(d.pid);
    const t0 = Date.now();
    const r = await cli(['reload', '-p', d.pidfile], { timeoutMs: 30_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`cannot reload: PID ${d.pid} is stopped (state T`);
    expect(r.stderr).toContain('SIGCONT');
    expect(r.stderr).toContain('no SIGUSR2 was sent');
    expect(Date.now() - t0).toBeLessThan(10_000);

    process.kill(d.pid, 'SIGCONT');
    await waitUntil(() => procStat(d.pid)?.state !== 'T', 5_000, 'the daemon to resume');
    expect((await get(d.port)).body).toBe(`hello from ${d.pid}\n`); // it runs again, and serves
    // No SIGUSR2 was queued: the next reload is the first handoff.
    const again = await cli(['reload', '-p', d.pidfile]);
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    track(readPid(d.pidfile));
    expect(meta(d.pidfile).lastHandoff).toMatchObject({ seq: 1, outcome: 'ok', oldPid: d.pid });
    expect(fs.readFileSync(d.logfile, 'utf8').match(/starting generation/g)).toHaveLength(1);
  });

  test('a stopped daemon with a SIGUSR2 already queued: reload says the handoff will run once it resumes, and it does', async () => {
    const dir = tmpdir();
    const d = await startDaemon(dir, ['--name', title(), '--upgrade-timeout', '2'], APP);
    await stop(d.pid);
    process.kill(d.pid, 'SIGUSR2'); // queued: a stopped process takes signals only once resumed
    const r = await cli(['reload', '-p', d.pidfile], { timeoutMs: 30_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`PID ${d.pid} is stopped (state T`);
    expect(r.stderr).toContain('a SIGUSR2 is already pending');
    expect(r.stderr).toContain('hand over once it resumes');
    process.kill(d.pid, 'SIGCONT');
    const next = await waitUntil(() => meta(d.pidfile).lastHandoff?.seq === 1 && readPid(d.pidfile) !== d.pid && readPid(d.pidfile), 15_000, 'the queued handoff');
    track(next);
    expect(meta(d.pidfile).lastHandoff).toMatchObject({ seq: 1, outcome: 'ok', oldPid: d.pid, newPid: next });
  });

  test("a daemon whose event loop is blocked: reload waits the daemon's --upgrade-timeout plus a margin, not its own 70 s, and says the handoff may still happen; it does", async () => {
    const dir = tmpdir();
    const d = await startDaemon(dir, ['--name', title(), '--upgrade-timeout', '1'], APP);
    // Block the daemon's event loop for 18 s; the reply's first line says the block has begun.
    let begun!: () => void;
    const started = new Promise<void>((resolve) => (begun = resolve));
    const ended = new Promise<void>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: d.port, path: '/block?ms=18000', agent: false, timeout: 60_000 }, (res) => {
        res.once('data', () => begun());
        res.on('end', resolve);
        res.resume();
      });
      req.on('error', reject);
    });
    await started;
    const t0 = Date.now();
    const r = await cli(['reload', '-p', d.pidfile], { timeoutMs: 40_000 });
    const tookMs = Date.now() - t0;
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`no handoff outcome from PID ${d.pid} within 11 s (its --upgrade-timeout 1 s + 10 s)`);
    expect(r.stderr).toContain('may still hand over');
    expect(r.stderr).not.toContain('see its log');
    expect(tookMs).toBeLessThan(17_000); // before the block ends: the wait was the daemon's, not 70 s
    await ended;
    // As the message said, the handoff happens once the daemon runs again.
    const next = await waitUntil(() => meta(d.pidfile).lastHandoff?.seq === 1 && readPid(d.pidfile) !== d.pid && readPid(d.pidfile), 20_000, 'the handoff after the block');
    track(next);
  });
});
