// Upgrading forkover itself through a reload (issue 12, items 1 and 2): the previous
// release, built from git at PREVIOUS, and the working tree, each packed with npm and
// installed with npm into a project of its own (v-old, v-new). The app's project links
// node_modules to one of them, and a deploy switches the link (one rename) between two
// reloads, as `npm update` between releases would. Each direction under load, with zero
// failed requests: old -> new, new -> old, old -> new -> old (a rollback). At every step
// the pidfile names the generation that answers, and `status` from both releases' CLIs
// says so; `stop` ends it. A build of the working tree with its protocol patched to one
// no other release speaks (v-bad) is refused before anything changes, in both directions,
// with the message naming both versions and the way out (stop and start).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { alive, cleanup, fixture, freePort, get, load, node, readPid, run, tmpdir, track, waitUntil } from '../helpers/util.js';
import { installInto, packCommit, packWorkingTree, patchProtocol } from '../helpers/releases.js';

/** "The previous version": the commit issue 12 was taken on (README "Upgrading forkover through a reload"). */
const PREVIOUS = 'e8509a1';

afterEach(cleanup);

let work: string;
const installs: Record<'v-old' | 'v-new' | 'v-bad', string> = { 'v-old': '', 'v-new': '', 'v-bad': '' };

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'forkover-releases-'));
  const [old, current] = await Promise.all([packCommit(PREVIOUS), packWorkingTree(fs.mkdtempSync(path.join(work, 'pack-')))]);
  const bad = await patchProtocol(current, work, 99, 99);
  await Promise.all([
    installInto(path.join(work, 'v-old'), old).then((d) => (installs['v-old'] = d)),
    installInto(path.join(work, 'v-new'), current).then((d) => (installs['v-new'] = d)),
    installInto(path.join(work, 'v-bad'), bad).then((d) => (installs['v-bad'] = d)),
  ]);
}, 600_000);

afterAll(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

type Release = keyof typeof installs;

/** A project running the test app, with node_modules linked to one installed release. */
function app(first: Release) {
  const dir = tmpdir('forkover-rel-');
  fs.copyFileSync(fixture('releases/app.mjs'), path.join(dir, 'app.mjs'));
  const deploy = (release: Release) => {
    // One rename: a generation that starts sees one release or the other, never a mix.
    const tmp = path.join(dir, `.node_modules.${release}`);
    fs.symlinkSync(path.join(installs[release], 'node_modules'), tmp);
    fs.renameSync(tmp, path.join(dir, 'node_modules'));
  };
  deploy(first);
  const pidfile = path.join(dir, 'app.pid');
  const cliOf = (release: Release) => path.join(installs[release], 'node_modules', 'forkover', 'bin', 'forkover.js');
  /** The CLI as the app's project has it now: node_modules/.bin/forkover of the deployed release. */
  const deployedCli = () => path.join(dir, 'node_modules', '.bin', 'forkover');
  return { dir, pidfile, deploy, cliOf, deployedCli };
}

type App = ReturnType<typeof app>;

async function startApp(a: App, port: number, extra: string[] = []): Promise<number> {
  const r = await node('app.mjs', ['--daemon', '-p', a.pidfile, '-l', path.join(a.dir, 'app.log'), ...extra], {
    cwd: a.dir,
    timeoutMs: 30_000,
    env: { ...process.env, APP_PORT: String(port) },
  });
  const pid = readPid(a.pidfile);
  track(pid);
  if (r.code !== 0 || pid === undefined) throw new Error(`start exited ${r.code}: ${r.stderr}${r.stdout}\n${log(a)}`);
  return pid;
}

function log(a: App): string {
  try {
    return fs.readFileSync(path.join(a.dir, 'app.log'), 'utf8').slice(-3000);
  } catch {
    return '(no log)';
  }
}

/**
 * The state after a step: the pidfile names `pid`, which answers as `release` (once the
 * generation before it is gone: until then either may accept, R3.3), and `status` of
 * both the old and the new release's CLI says it runs.
 */
async function expectServing(a: App, port: number, pid: number, release: Release, previous?: number): Promise<void> {
  expect(readPid(a.pidfile)).toBe(pid);
  if (previous !== undefined) await waitUntil(() => !alive(previous), 30_000, `PID ${previous} to finish draining`);
  for (let i = 0; i < 5; i++) expect((await get(port)).body).toBe(`${release} ${pid}\n`);
  for (const cli of ['v-old', 'v-new'] as const) {
    const s = await node(a.cliOf(cli), ['status', '-p', a.pidfile]);
    expect({ cli, code: s.code, pid: s.stdout.includes(String(pid)), stderr: s.stderr }).toEqual({ cli, code: 0, pid: true, stderr: '' });
  }
}

/** Deploy `release`, reload with the deployed CLI, and expect the new generation to serve; its PID. */
async function reloadOnto(a: App, port: number, release: Release, from: number): Promise<number> {
  a.deploy(release);
  const r = await run(a.deployedCli(), ['reload', '-p', a.pidfile], { cwd: a.dir, timeoutMs: 90_000 });
  const pid = readPid(a.pidfile);
  track(pid);
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  expect(r.stdout).toMatch(new RegExp(`^reloaded: PID ${from} -> ${pid} `));
  await expectServing(a, port, pid!, release, from);
  return pid!;
}

async function stopWith(a: App, cli: Release, pids: number[]): Promise<void> {
  const s = await node(a.cliOf(cli), ['stop', '-p', a.pidfile], { timeoutMs: 60_000 });
  expect({ code: s.code, stderr: s.stderr }).toEqual({ code: 0, stderr: '' });
  expect(fs.existsSync(a.pidfile)).toBe(false);
  for (const pid of pids) expect(alive(pid)).toBe(false);
  const st = await node(a.cliOf(cli), ['status', '-p', a.pidfile]);
  expect(st.code).toBe(3);
}

/** Run `steps` under load (new connections and kept-alive ones) and expect no request to fail. */
async function underLoad(port: number, steps: () => Promise<void>): Promise<void> {
  const fresh = load(port, { concurrency: 4 });
  const kept = load(port, { concurrency: 4, keepAlive: true });
  try {
    await steps();
  } finally {
    const [f, k] = await Promise.all([fresh.stop(), kept.stop()]);
    // The counts, for the report: printed, not asserted beyond "none failed".
    process.stdout.write(`${expect.getState().currentTestName}: new connections ${f.ok} ok ${f.failed} failed; keep-alive ${k.ok} ok ${k.failed} failed\n`);
    expect({ failed: f.failed, byKind: f.byKind, errors: f.errors }).toEqual({ failed: 0, byKind: {}, errors: [] });
    expect({ failed: k.failed, byKind: k.byKind, errors: k.errors }).toEqual({ failed: 0, byKind: {}, errors: [] });
    expect(f.ok).toBeGreaterThan(0);
    expect(k.ok).toBeGreaterThan(0);
  }
}

test(`old -> new: ${PREVIOUS} hands over to the working tree under load`, async () => {
  const a = app('v-old');
  const port = await freePort();
  const first = await startApp(a, port);
  await expectServing(a, port, first, 'v-old');
  let second = 0;
  await underLoad(port, async () => {
    second = await reloadOnto(a, port, 'v-new', first);
  });
  await stopWith(a, 'v-new', [first, second]);
}, 180_000);

test(`new -> old: the working tree hands over to ${PREVIOUS} under load (a downgrade)`, async () => {
  const a = app('v-new');
  const port = await freePort();
  const first = await startApp(a, port);
  await expectServing(a, port, first, 'v-new');
  let second = 0;
  await underLoad(port, async () => {
    second = await reloadOnto(a, port, 'v-old', first);
  });
  await stopWith(a, 'v-old', [first, second]);
}, 180_000);

test(`old -> new -> old: an upgrade rolled back by the next deploy, under load, --standby`, async () => {
  const a = app('v-old');
  const port = await freePort();
  // --standby: each generation's successor Node is started ahead by the running release
  // (its preload) and then loads whatever release is deployed at the handoff.
  const first = await startApp(a, port, ['--standby']);
  await expectServing(a, port, first, 'v-old');
  const pids = [first];
  await underLoad(port, async () => {
    pids.push(await reloadOnto(a, port, 'v-new', first));
    pids.push(await reloadOnto(a, port, 'v-old', pids[1]!));
  });
  await stopWith(a, 'v-old', pids);
}, 180_000);

test('an incompatible protocol is refused before anything changes, both ways: reload exits 1 naming both versions, the old generation serves on', async () => {
  for (const [running, next] of [
    ['v-new', 'v-bad'],
    ['v-bad', 'v-new'],
  ] as const) {
    const a = app(running);
    const port = await freePort();
    const pid = await startApp(a, port);
    const sidecar = fs.readFileSync(`${a.pidfile}.meta`, 'utf8');
    await underLoad(port, async () => {
      a.deploy(next);
      // The CLI of the release that runs: the deployed one cannot read a v-bad sidecar (below).
      const r = await node(a.cliOf(running), ['reload', '-p', a.pidfile], { timeoutMs: 90_000 });
      expect({ running, next, code: r.code, stdout: r.stdout }).toEqual({ running, next, code: 1, stdout: '' });
      const protocols = running === 'v-bad' ? ['hand-over protocol 99', 'hand-over protocol 2'] : ['hand-over protocol 2', 'hand-over protocol 99'];
      expect(r.stderr).toContain(`reload refused: the running generation (PID ${pid}: forkover 0.1.0, ${protocols[0]}`);
      expect(r.stderr).toContain(`and the new one (PID `);
      expect(r.stderr).toContain(protocols[1]);
      expect(r.stderr).toContain(`stop the service and start it again ("forkover stop -p ${a.pidfile}"`);
      expect(r.stderr).toContain(`PID ${pid} keeps serving`);
    });
    // Nothing changed: the same PID in the pidfile, serving; the sidecar differs only in
    // the handoff's record (its outcome, refused).
    expect(readPid(a.pidfile)).toBe(pid);
    expect((await get(port)).body).toBe(`${running} ${pid}\n`);
    const after = JSON.parse(fs.readFileSync(`${a.pidfile}.meta`, 'utf8')) as { lastHandoff: { outcome: string }; handoffSeq: number };
    expect(after.lastHandoff.outcome).toBe('refused');
    expect({ ...after, lastHandoff: null, handoffSeq: 0 }).toEqual({ ...JSON.parse(sidecar), lastHandoff: null, handoffSeq: 0 });
    // The CLI of the other release says clearly that it cannot read this sidecar, with exit 4 (unknown).
    const other = running === 'v-bad' ? 'v-new' : undefined;
    if (other !== undefined) {
      const s = await node(a.cliOf(other), ['status', '-p', a.pidfile]);
      expect({ code: s.code, stdout: s.stdout }).toMatchObject({ code: 4 });
      expect(`${s.stdout}${s.stderr}`).toContain('written by forkover 0.1.0 (hand-over protocol 99) in sidecar format 1, which this forkover CLI (0.1.0, protocol 2, format 1) cannot read');
    }
    await stopWith(a, running, [pid]);
  }
}, 240_000);
