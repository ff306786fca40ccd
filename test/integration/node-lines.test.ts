// Issue 12, item 3: a reload that changes the Node line. A daemon is started with a Node
// at a fixed path; between two reloads that path is made another line's binary, and each
// reload, under load, must bring up a generation on the new line with 0 failed requests.
// The six reloads 20 → 22 → 24 → 20 → 24 → 22 → 20 take every ordered pair of the three
// lines once: each upgrade and each downgrade, one line or two at a time.
//
// Two ways a deploy changes the binary behind a path:
//  - a new file renamed over the old one (dpkg, rpm, `n`, a container image's layer): the
//    running generation's process.execPath names a file that is no longer its own;
//  - a symlink switched to another version's directory (Homebrew's /usr/local/bin/node,
//    nvm-style "current" links, update-alternatives): process.execPath is the resolved
//    target, the old version's file, so the next generation must be started by the path
//    the daemon was started with, not by process.execPath.
// With --standby the waiting process was started on the old line: the handoff must see
// that the binary changed, discard it and start cold on the new one.
//
// The binaries: this run's own Node (process.execPath) for its line, and the others from
// scripts/node-line.sh (the npm registry's `node` package, cached in node_modules/.cache).
// A line that cannot be had fails the file; it is never skipped.
//
// And one thing that differs by line, on whichever line runs the suite: `forkover start`
// in the foreground with Node options in the app's command execs that Node in its own
// process (process.execve, Node >= 22.15); an older Node refuses it, saying so.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as net from 'node:net';
import { CLI, ROOT, alive, cleanup, cli, fixture, get, load, readPid, run, start, tmpdir, track, waitForOutput, waitUntil, type LoadStats } from '../helpers/util.js';

const APP = fixture('app.mjs');
const LINES = [20, 22, 24] as const;
type Line = (typeof LINES)[number];
const PATH_OF_RELOADS: Line[] = [20, 22, 24, 20, 24, 22, 20];

const binaries = new Map<Line, string>();

beforeAll(async () => {
  const own = Number(process.versions.node.split('.')[0]);
  for (const line of LINES) {
    if (line === own) {
      binaries.set(line, process.execPath);
      continue;
    }
    const { stdout } = await promisify(execFile)('bash', [path.join(ROOT, 'scripts/node-line.sh'), String(line)], { timeout: 240_000 });
    binaries.set(line, stdout.trim());
  }
  for (const [line, bin] of binaries) {
    const { stdout } = await promisify(execFile)(bin, ['--version']);
    if (!stdout.startsWith(`v${line}.`)) throw new Error(`${bin} is Node ${stdout.trim()}, not Node ${line}`);
  }
}, 600_000);

afterEach(cleanup);

/** Make `at` the binary of `line`, as a deploy does: a new name renamed over the old one. */
function replaceFile(at: string, line: Line): void {
  const tmp = `${at}.new`;
  try {
    fs.linkSync(binaries.get(line)!, tmp); // the same inode: no 100 MB copy per step
  } catch {
    fs.copyFileSync(binaries.get(line)!, tmp);
    fs.chmodSync(tmp, 0o755);
  }
  fs.renameSync(tmp, at);
}

/** Point the symlink `at` at the binary of `line`: a new link renamed over the old one. */
function switchLink(at: string, line: Line): void {
  const tmp = `${at}.new`;
  fs.symlinkSync(binaries.get(line)!, tmp);
  fs.renameSync(tmp, at);
}

interface Info {
  pid: number;
  node: string;
}

function summary(s: LoadStats): string {
  return `${s.ok} ok, ${s.failed} failed${s.failed ? ` ${JSON.stringify(s.byKind)} (${s.errors.slice(0, 3).join('; ')})` : ''}`;
}

describe.each([
  ['a new binary renamed over the path', 'file', []],
  ['a new binary renamed over the path', 'file', ['--standby']],
  ['a symlink switched to another version', 'symlink', []],
  ['a symlink switched to another version', 'symlink', ['--standby']],
] as const)('a reload onto another Node line: %s', (_how, kind, flags) => {
  test(`${PATH_OF_RELOADS.join(' -> ')}${flags.length ? ` (${flags.join(' ')})` : ''}: each generation runs the new line, 0 failed requests under load`, async () => {
    const dir = tmpdir();
    const nodePath = path.join(dir, 'bin', 'node');
    fs.mkdirSync(path.dirname(nodePath));
    const put = kind === 'file' ? replaceFile : switchLink;
    put(nodePath, PATH_OF_RELOADS[0]!);
    const pidfile = path.join(dir, 'app.pid');
    const logfile = path.join(dir, 'app.log');
    // The file variants start the daemon by the path, the symlink variants as a bare
    // `node` found on PATH (a shell, `#!/usr/bin/env node`): forkover looks it up the same way.
    const launcher =
      kind === 'file'
        ? await run(nodePath, [APP, '--port', '0', '--host', '127.0.0.1', '--daemon', '-p', pidfile, '-l', logfile, ...flags], { cwd: dir })
        : await run('node', [APP, '--port', '0', '--host', '127.0.0.1', '--daemon', '-p', pidfile, '-l', logfile, ...flags], { cwd: dir, env: { ...process.env, PATH: `${path.dirname(nodePath)}:${process.env.PATH}` } });
    const first = readPid(pidfile);
    track(first);
    if (launcher.code !== 0 || first === undefined) throw new Error(`launcher exited ${launcher.code}: ${launcher.stderr}${launcher.stdout}`);
    const port = Number(/listening on [^\n]*?:(\d+)/.exec(launcher.stdout)?.[1]);

    /** The /info of `pid`, once it is the one that answers a new connection. */
    const infoFrom = (pid: number) =>
      waitUntil(
        async () => {
          const i = JSON.parse((await get(port, '/info')).body) as Info;
          return i.pid === pid ? i : undefined;
        },
        10_000,
        `PID ${pid} to answer /info`,
      );
    /** With --standby: the standby of `owner` is up, so the next handoff has one to discard. */
    const standbyOf = (owner: number) =>
      waitUntil(() => fs.readFileSync(logfile, 'utf8').includes(`forkover[${owner}]: standby PID`), 15_000, `the standby of PID ${owner} (log: ${fs.readFileSync(logfile, 'utf8')})`);

    expect((await infoFrom(first)).node).toMatch(new RegExp(`^v${PATH_OF_RELOADS[0]}\\.`));
    const keepAlive = load(port, { concurrency: 8, keepAlive: true, maxMs: 180_000 });
    const fresh = load(port, { concurrency: 8, keepAlive: false, maxMs: 180_000 });
    const steps: string[] = [];
    let gen = first;
    /** Requests answered and failed so far, both loads together: each step's share is logged. */
    const tally = () => ({ ok: keepAlive.stats.ok + fresh.stats.ok, failed: keepAlive.stats.failed + fresh.stats.failed });
    let mark = tally();
    let stats: LoadStats[];
    try {
      for (let i = 1; i < PATH_OF_RELOADS.length; i++) {
        const from = PATH_OF_RELOADS[i - 1]!;
        const to = PATH_OF_RELOADS[i]!;
        const before = { ka: keepAlive.stats.ok, nc: fresh.stats.ok };
        await waitUntil(() => keepAlive.stats.ok > before.ka + 50 && fresh.stats.ok > before.nc + 20, 20_000, 'requests before the reload');
        if (flags.length) await standbyOf(gen);
        put(nodePath, to);
        const r = await cli(['reload', '-p', pidfile], { timeoutMs: 90_000 });
        const next = readPid(pidfile)!;
        track(next);
        expect({ step: `${from} -> ${to}`, code: r.code, stderr: r.stderr }).toEqual({ step: `${from} -> ${to}`, code: 0, stderr: '' });
        expect(next).not.toBe(gen);
        const info = await infoFrom(next);
        expect({ step: `${from} -> ${to}`, node: info.node.split('.')[0] }).toEqual({ step: `${from} -> ${to}`, node: `v${to}` });
        if (flags.length) {
          // The old generation logs what became of its standby once its successor is ready,
          // which may be a moment after `reload` saw the pidfile name the successor.
          const discarded = `forkover[${gen}]: handoff ${i}: discarded standby PID `;
          const line = await waitUntil(() => fs.readFileSync(logfile, 'utf8').split('\n').find((l) => l.includes(discarded)), 10_000, () => `"${discarded}…" in the log:\n${fs.readFileSync(logfile, 'utf8')}`);
          expect(line).toMatch(new RegExp(`: ${nodePath.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} was replaced since it started$`));
        }
        await waitUntil(() => !alive(gen), 30_000, `the Node ${from} generation ${gen} to exit after handing over`);
        const now = tally();
        steps.push(`${from}->${to} ${gen}->${next} (${/\((\d+ ms)\)/.exec(r.stdout)?.[1] ?? r.stdout.trim()}; ${now.ok - mark.ok} ok, ${now.failed - mark.failed} failed)`);
        mark = now;
        gen = next;
      }
      const after = { ka: keepAlive.stats.ok, nc: fresh.stats.ok };
      await waitUntil(() => keepAlive.stats.ok > after.ka + 50 && fresh.stats.ok > after.nc + 20, 20_000, 'requests after the last reload');
    } finally {
      stats = await Promise.all([keepAlive.stop(), fresh.stop()]);
    }
    const [ka, nc] = stats;
    console.log(`${kind}${flags.length ? ` ${flags.join(' ')}` : ''}: ${steps.join(', ')}; keep-alive ${summary(ka!)}; new connections ${summary(nc!)}`);
    for (const s of [ka!, nc!]) {
      expect(s.errors).toEqual([]);
      expect(s.byKind).toEqual({});
      expect(s.failed).toBe(0);
    }
    expect(new Set([...ka!.pids, ...nc!.pids]).size).toBe(PATH_OF_RELOADS.length); // every generation, of every line, answered

    const stop = await cli(['stop', '-p', pidfile]);
    expect(stop.code).toBe(0);
    await waitUntil(() => !alive(gen), 30_000, `the last generation ${gen} to stop`);
    expect(fs.existsSync(pidfile)).toBe(false);
  }, 240_000);
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    }).on('error', reject);
  });
}

describe('forkover start in the foreground, with Node options in the command', () => {
  const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
  const hasExecve = major > 22 || (major === 22 && minor >= 15);
  const OPTION = '--max-old-space-size=100';

  test(`Node ${process.version}: ${hasExecve ? 'forkover execs that Node in its own process (process.execve): one PID, the options applied, SIGTERM exits 0' : 'refused with exit 2, naming Node >= 22.15 and the ways out; nothing listens'}`, async () => {
    const port = await freePort();
    const app = fixture('start/node-options.cjs');
    if (!hasExecve) {
      expect(typeof (process as { execve?: unknown }).execve).toBe('undefined');
      const r = await cli(['start', '--', process.execPath, OPTION, app, '--port', String(port)], { cwd: tmpdir() });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/can take Node options \(--max-old-space-size=100\) only with Node ≥ 22\.15's process\.execve; run forkover itself with that Node, put the options in NODE_OPTIONS, or add --daemon/);
      await expect(get(port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
      return;
    }
    expect(typeof (process as { execve?: unknown }).execve).toBe('function');
    const child = start(process.execPath, [CLI, 'start', '--', process.execPath, OPTION, app, '--port', String(port)], { cwd: tmpdir() });
    await waitForOutput(child, /listening on/);
    const info = JSON.parse((await get(port)).body) as { pid: number; node: string; execArgv: string[] };
    // The same process: forkover's CLI became the app, no launcher waits beside it.
    expect(info.pid).toBe(child.pid);
    expect(info.node).toBe(process.version);
    expect(info.execArgv).toContain(OPTION);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    child.kill('SIGTERM');
    expect(await exited).toEqual({ code: 0, signal: null });
  });
});
