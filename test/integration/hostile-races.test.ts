// Issue 5, item 6: signal races (contracts R2.4, R2.7, R3.3, R3.4, R1.9). In each case,
// once the outcome has settled (well within --upgrade-timeout), the pidfile names a live,
// serving generation or nothing, and no process titled with the test's --name is left
// but the one it names. A new generation is held "not ready" with --mode-file hang.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { alive, cleanup, fixture, get, node, processesTitled, readPid, acceptedConnections, start, startDaemon, tmpdir, track, waitUntil } from '../helpers/util.js';

const APP = fixture('app.mjs');
afterEach(cleanup);

let seq = 0;
const title = () => `rc${process.pid % 10000}x${++seq}`;

interface Race {
  name: string;
  pid: number;
  port: number;
  pidfile: string;
  logfile: string;
  modeFile: string;
  seen: Set<number>;
}

async function begin(): Promise<Race> {
  const dir = tmpdir();
  const modeFile = path.join(dir, 'mode');
  fs.writeFileSync(modeFile, 'ok\n');
  const name = title();
  const d = await startDaemon(dir, ['--name', name, '--mode-file', modeFile, '--upgrade-timeout', '10', '--drain-timeout', '5'], APP);
  return { name, pid: d.pid, port: d.port, pidfile: d.pidfile, logfile: d.logfile, modeFile, seen: new Set([d.pid]) };
}

/** Start a 1.5 s request and resolve once the daemon holds its connection (one more socket). */
async function inFlight(r: Race): Promise<{ reply: ReturnType<typeof get> }> {
  const before = acceptedConnections(r.pid, r.port);
  const reply = get(r.port, '/slow?ms=1500');
  await waitUntil(() => acceptedConnections(r.pid, r.port) > before, 5_000, 'the daemon to accept the request');
  return { reply };
}

const logText = (r: Race) => fs.readFileSync(r.logfile, 'utf8');

/** USR2 the current generation with the next one held not ready; resolves to the new PID. */
async function hungHandoff(r: Race): Promise<number> {
  fs.writeFileSync(r.modeFile, 'hang\n');
  process.kill(r.pid, 'SIGUSR2');
  const m = await waitUntil(() => new RegExp(`forkover\\[(\\d+)\\]: generation started by PID ${r.pid}`).exec(logText(r)), 10_000, 'the new generation to start');
  const pid = Number(m[1]);
  track(pid);
  r.seen.add(pid);
  return pid;
}

/**
 * The settled state: the pidfile names a live generation that serves, or nothing; the
 * only process left with our title is the one it names; every PID we saw is gone or it.
 */
async function settled(r: Race, expectPid: number | undefined): Promise<void> {
  await waitUntil(() => processesTitled(r.name).length === (expectPid === undefined ? 0 : 1), 10_000, `the processes titled ${r.name} to settle (now ${processesTitled(r.name)})`);
  const named = readPid(r.pidfile);
  expect(named).toBe(expectPid);
  expect(processesTitled(r.name)).toEqual(expectPid === undefined ? [] : [expectPid]);
  for (const pid of r.seen) expect(`${pid} ${alive(pid)}`).toBe(`${pid} ${pid === expectPid}`);
  if (expectPid !== undefined) expect((await get(r.port)).body).toBe(`hello from ${expectPid}\n`);
  else {
    expect(fs.existsSync(`${r.pidfile}.meta`)).toBe(false);
    // Nothing answers. A reset, not a refusal, means a generation that held the listening
    // socket without accepting (a hung one) is still closing it on its way out: wait that
    // out; an answer, or anything but a refusal after it, fails.
    const outcome = await waitUntil(async () => {
      const code = await get(r.port, '/', false, 2_000).then(() => 'answered', (err: { code?: string }) => err.code ?? String(err));
      return code === 'ECONNRESET' ? undefined : code;
    }, 5_000, `port ${r.port} to refuse, not reset`);
    expect(outcome).toBe('ECONNREFUSED');
  }
}

test('TERM during a handoff: the not-ready generation is killed, the handoff abandoned, everything stops gracefully', async () => {
  const r = await begin();
  const next = await hungHandoff(r);
  process.kill(r.pid, 'SIGTERM');
  await settled(r, undefined);
  const log = logText(r);
  expect(log).toContain(`the handoff was abandoned; new process ${next} was killed`);
  expect(log).toMatch(new RegExp(`forkover\\[${r.pid}\\]: stopped`)); // graceful: drained, exit 0
});

test('USR2 during a stop drain is ignored; the in-flight request finishes, then everything is gone', async () => {
  const r = await begin();
  const slow = await inFlight(r);
  process.kill(r.pid, 'SIGTERM');
  await waitUntil(() => /SIGTERM: stopping/.test(logText(r)), 5_000, 'the drain to begin');
  process.kill(r.pid, 'SIGUSR2');
  expect((await slow.reply).body).toBe(`slow ${r.pid}\n`);
  await settled(r, undefined);
  expect(logText(r)).toMatch(/SIGUSR2 ignored: this generation is stopping/);
});

test('USR2 to an old generation draining after a handoff is ignored; the new one keeps the pidfile', async () => {
  const r = await begin();
  const slow = await inFlight(r);
  process.kill(r.pid, 'SIGUSR2');
  await waitUntil(() => /handoff 1: PID \d+ serves/.test(logText(r)), 10_000, 'the handoff');
  const next = readPid(r.pidfile)!;
  track(next);
  r.seen.add(next);
  process.kill(r.pid, 'SIGUSR2'); // the old one, still draining the slow request
  expect((await slow.reply).body).toBe(`slow ${r.pid}\n`);
  await settled(r, next);
  expect(logText(r)).toMatch(new RegExp(`forkover\\[${r.pid}\\]: SIGUSR2 ignored: this generation is draining`));
});

test('SIGKILL of the new generation mid-handoff: rollback, the old one serves and is named', async () => {
  const r = await begin();
  const next = await hungHandoff(r);
  process.kill(next, 'SIGKILL');
  await waitUntil(() => /handoff 1 rolled back/.test(logText(r)), 10_000, 'the rollback');
  expect(logText(r)).toMatch(new RegExp(`new process ${next} was killed by SIGKILL before becoming ready`));
  await settled(r, r.pid);
});

test('SIGKILL of the old generation mid-handoff: the not-ready one exits and removes the dead PID\'s pidfile', async () => {
  const r = await begin();
  const next = await hungHandoff(r);
  process.kill(r.pid, 'SIGKILL');
  await settled(r, undefined);
  expect(logText(r)).toContain(`forkover[${next}]: removed ${r.pidfile}: it named PID ${r.pid}, which died during the handoff`);
});

test('SIGKILL of the launcher before ready: the daemon exits instead of lingering, and its pidfile goes', async () => {
  const dir = tmpdir();
  const name = title();
  const pidfile = path.join(dir, 'app.pid');
  const launcher = start(process.execPath, [APP, '--mode', 'hang', '--port', '0', '--host', '127.0.0.1', '--daemon', '-p', pidfile, '-l', path.join(dir, 'app.log'), '--name', name], { cwd: dir });
  // The daemon claims the pidfile at init, before the app's own start-up (which hangs).
  const daemon = await waitUntil(() => readPid(pidfile), 10_000, 'the daemon to claim the pidfile');
  track(daemon);
  expect(alive(daemon)).toBe(true);
  launcher.kill('SIGKILL');
  await waitUntil(() => !alive(daemon), 5_000, `daemon ${daemon} to exit`);
  expect(fs.existsSync(pidfile)).toBe(false);
  expect(processesTitled(name)).toEqual([]);
  expect(fs.readFileSync(path.join(dir, 'app.log'), 'utf8')).toContain('went away before it was ready; exiting');
});

test('control: with nothing racing, a hung new generation times out and rolls back (the harness can tell outcomes apart)', async () => {
  const r = await begin();
  // A short timeout for this one: a second daemon with --upgrade-timeout 1.
  const dir = path.dirname(r.pidfile);
  const l = await node(APP, ['--port', '0', '--host', '127.0.0.1', '--daemon', '-p', 'b.pid', '-l', 'b.log', '--name', `${r.name}b`, '--mode-file', r.modeFile, '--upgrade-timeout', '1'], { cwd: dir });
  const b = readPid(path.join(dir, 'b.pid'))!;
  track(b);
  expect(l.code).toBe(0);
  fs.writeFileSync(r.modeFile, 'hang\n');
  process.kill(b, 'SIGUSR2');
  await waitUntil(() => /handoff 1 rolled back: new process \d+ did not become ready within --upgrade-timeout 1 s/.test(fs.readFileSync(path.join(dir, 'b.log'), 'utf8')), 10_000, 'the timeout rollback');
  expect(readPid(path.join(dir, 'b.pid'))).toBe(b);
  await waitUntil(() => processesTitled(`${r.name}b`).length === 1, 5_000, 'the killed generation to go');
});
