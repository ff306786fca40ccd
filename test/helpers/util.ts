/**
 * What every integration test needs: temp dirs, real processes that are always killed,
 * waits on events under a deadline, an HTTP client and a bounded load loop.
 *
 * Rules these helpers enforce: every process a test starts is registered and killed by
 * PID in afterEach, even when the test fails; nothing sleeps to synchronise.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { startLoad } from '../../bench/lib/client.mjs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const HELLO = path.join(ROOT, 'examples/hello.js');
export const CLI = path.join(ROOT, 'bin/forkover.js');
export const fixture = (name: string): string => path.join(ROOT, 'test/fixtures', name);

/** A fresh directory for one test, removed by cleanup(). */
export function tmpdir(prefix = 'forkover-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

const dirs: string[] = [];
const children = new Set<ChildProcess>();
const pids = new Map<number, number | undefined>(); // pid -> starttime when registered

/** Start time of a PID from /proc, or undefined if gone. */
export function procStat(pid: number): { state: string; ppid: number; session: number; pgrp: number; starttime: number; comm: string } | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const close = text.lastIndexOf(')');
  const rest = text.slice(close + 2).split(' ');
  return {
    comm: text.slice(text.indexOf('(') + 1, close),
    state: rest[0]!,
    ppid: Number(rest[1]),
    pgrp: Number(rest[2]),
    session: Number(rest[3]),
    starttime: Number(rest[19]),
  };
}

/** Alive and not a zombie. */
export function alive(pid: number): boolean {
  const s = procStat(pid);
  return s !== undefined && s.state !== 'Z' && s.state !== 'X';
}

/** Remember a PID we caused to exist (a daemon, a generation) so cleanup() kills it. */
export function track(pid: number | undefined): void {
  if (pid === undefined || pid <= 1 || pids.has(pid)) return;
  pids.set(pid, procStat(pid)?.starttime);
}

/** Kill everything registered: children and tracked PIDs (only if still the same process). */
export async function cleanup(): Promise<void> {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
  children.clear();
  for (const [pid, start] of pids) {
    const s = procStat(pid);
    if (s && s.state !== 'Z' && (start === undefined || s.starttime === start)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
  // Safety net: a generation the test never learned about (it failed between a handoff
  // and track()) still holds its log or sockets in the test's own temp dir.
  for (const pid of holdersOf(dirs)) {
    if (!pids.has(pid)) pids.set(pid, undefined);
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  for (const pid of pids.keys()) await waitUntil(() => !alive(pid), 5_000).catch(() => {});
  pids.clear();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

/** PIDs (other than ours) with an open fd or cwd inside one of `roots`. */
export function holdersOf(roots: string[]): number[] {
  if (roots.length === 0) return [];
  const out: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    const pid = Number(e);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    const inside = (target: string) => roots.some((r) => target === r || target.startsWith(`${r}/`));
    let hit = false;
    try {
      hit = inside(fs.readlinkSync(`/proc/${pid}/cwd`));
    } catch {
      // gone
    }
    for (const fd of fds) {
      if (hit) break;
      try {
        hit = inside(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      } catch {
        // closed meanwhile
      }
    }
    if (hit) out.push(pid);
  }
  return out;
}

/**
 * Poll `check` (which may be async, e.g. asking systemctl) until truthy, or throw naming
 * `what` at the deadline; `what` may be a function, to describe the state at that moment.
 */
export async function waitUntil<T>(
  check: () => T | undefined | false | null | Promise<T | undefined | false | null>,
  timeoutMs: number,
  what: string | (() => string) = 'condition',
  intervalMs = 10,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'function' ? what() : what}`);
    await delay(intervalMs);
  }
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run a command to completion (killed at `timeoutMs`), capturing output. */
export function run(file: string, args: string[], opts: SpawnOptions & { timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr?.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Run `node <script> args` (cwd defaults to the test's dir). */
export function node(script: string, args: string[], opts: SpawnOptions & { timeoutMs?: number } = {}): Promise<RunResult> {
  return run(process.execPath, [script, ...args], opts);
}

/** Run the control CLI. */
export function cli(args: string[], opts: SpawnOptions & { timeoutMs?: number } = {}): Promise<RunResult> {
  return node(CLI, args, opts);
}

/** Start a long-running process; it is killed by cleanup(). */
export function start(file: string, args: string[], opts: SpawnOptions = {}): ChildProcess & { output: () => string } {
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts }) as ChildProcess & { output: () => string };
  children.add(child);
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr?.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.output = () => out;
  return child;
}

/** Wait for a line matching `re` in a started process's output. */
export function waitForOutput(child: ChildProcess & { output: () => string }, re: RegExp, timeoutMs = 10_000): Promise<RegExpMatchArray> {
  return waitUntil(() => child.output().match(re), timeoutMs, `output matching ${re} (got: ${child.output().slice(-500)})`);
}

/** A TCP port free on `host` right now (for an app that must be given a port: port 0 is not handed over). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/**
 * `forkover reload -p pidfile`, which must exit 0; then the new generation's PID, once the
 * pidfile names another live process (tracked for cleanup).
 */
export async function reloadToNew(pidfile: string): Promise<number> {
  const before = readPid(pidfile);
  const r = await cli(['reload', '-p', pidfile], { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`forkover reload exited ${r.code}: ${r.stdout}${r.stderr}`);
  const after = await waitUntil(() => {
    const p = readPid(pidfile);
    return p !== undefined && p !== before && alive(p) ? p : undefined;
  }, 15_000, `a new generation in ${pidfile} after PID ${before}`);
  track(after);
  return after;
}

/** Read a pidfile's PID, or undefined. */
export function readPid(pidfile: string): number | undefined {
  try {
    const n = parseInt(fs.readFileSync(pidfile, 'utf8'), 10);
    return Number.isInteger(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Start examples/hello.js (or another app) as a daemon; resolves once the launcher exited 0. */
export async function startDaemon(
  dir: string,
  extra: string[] = [],
  app = HELLO,
): Promise<{ pid: number; port: number; pidfile: string; logfile: string; launcher: RunResult }> {
  const pidfile = path.join(dir, 'app.pid');
  const logfile = path.join(dir, 'app.log');
  const launcher = await node(app, ['--port', '0', '--host', '127.0.0.1', '--daemon', '-p', pidfile, '-l', logfile, ...extra], { cwd: dir });
  const pid = readPid(pidfile);
  track(pid);
  if (launcher.code !== 0 || pid === undefined) {
    throw new Error(`launcher exited ${launcher.code}: ${launcher.stderr}\n${launcher.stdout}`);
  }
  const m = /listening on [^\n]*?:(\d+)/.exec(launcher.stdout);
  return { pid, port: m ? Number(m[1]) : 0, pidfile, logfile, launcher };
}

export interface Reply {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

/** One GET to 127.0.0.1. */
export async function get(port: number, urlPath = '/', agent: http.Agent | false = false, timeoutMs = 15_000): Promise<Reply> {
  const started = await getStarted(port, urlPath, agent, timeoutMs);
  return { status: started.status, headers: started.headers, body: await started.body };
}

/**
 * One GET to 127.0.0.1 that resolves as soon as the response headers arrive, with the
 * body still to come. A server that sends its headers before its body (the fixtures'
 * `/slow`) has the request in flight from then on: proof of where it runs, which a
 * count of the server's sockets is not (any socket it opens meanwhile counts too).
 */
export function getStarted(
  port: number,
  urlPath: string,
  agent: http.Agent | false = false,
  timeoutMs = 15_000,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent, timeout: timeoutMs }, (res) => {
      const body = new Promise<string>((done, fail) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => done(text));
        // The cause, when there is one (the response's, or the request's: a timeout); 'close' comes after it.
        res.on('error', fail);
        req.on('error', fail);
        res.on('close', () => {
          if (!res.complete) fail(new Error(`GET ${urlPath}: the connection closed before the body ended (got ${JSON.stringify(text)})`));
        });
      });
      body.catch(() => {}); // the caller awaits it; until then an early failure is not unhandled
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('request timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
  });
}

export interface LoadStats {
  ok: number;
  failed: number;
  /** Failures by kind (refused, reset, timeout, non2xx, other); kinds that did not occur are absent. */
  byKind: Record<string, number>;
  /** PIDs that answered. */
  pids: Set<string>;
  errors: string[];
}

/**
 * A bounded load loop against 127.0.0.1:port: bench/lib/client.mjs (the demo's and the
 * benchmarks' client), stopped by `stop()`, `maxRequests` or `maxMs`, whichever first.
 * keepAlive reuses connections through Node's own Agent (which does not retry).
 * `stats` is a live view.
 */
export function load(port: number, opts: { concurrency?: number; keepAlive?: boolean; maxRequests?: number; maxMs?: number; path?: string } = {}) {
  const l = startLoad({
    port,
    concurrency: opts.concurrency ?? 16,
    keepAlive: opts.keepAlive ?? false,
    maxRequests: opts.maxRequests ?? 200_000,
    maxMs: opts.maxMs ?? 60_000,
    ...(opts.path !== undefined ? { path: opts.path } : {}),
  });
  const view = (): LoadStats => ({
    ok: l.stats.ok,
    failed: l.stats.failed,
    byKind: Object.fromEntries(Object.entries(l.stats.byKind).filter(([, n]) => n > 0)),
    pids: new Set(l.stats.pids.keys()),
    errors: l.stats.errors.slice(0, 10),
  });
  return {
    get stats() {
      return view();
    },
    done: l.done.then(view),
    stop: () => l.stop().then(view),
  };
}

/** Number of open fds of a process. */
export function fdCount(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

/** Children of `pid` (from /proc), for zombie and orphan checks. */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    const n = Number(e);
    if (!Number.isInteger(n)) continue;
    if (procStat(n)?.ppid === pid) out.push(n);
  }
  return out;
}

/** Processes whose comm is `title` (only for assertions about processes tests started). */
export function processesTitled(title: string, state: 'live' | 'zombie' = 'live'): number[] {
  const out: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    const n = Number(e);
    if (!Number.isInteger(n)) continue;
    const s = procStat(n);
    if (s?.comm === title && (s.state === 'Z') === (state === 'zombie')) out.push(n);
  }
  return out;
}

/** The nearest ancestor (or 1) that reaps orphans for us: where daemons get reparented. */
export function reaperPids(): number[] {
  const out = [1];
  let pid = process.pid;
  while (pid > 1) {
    out.push(pid);
    pid = procStat(pid)?.ppid ?? 1;
  }
  return out;
}

/**
 * Established TCP connections on local `port` that process `pid` holds, i.e. connections
 * it has accepted (a connection still in the listen backlog is not among its fds). The
 * way to know a request is in a server's hands before signalling it.
 */
export function acceptedConnections(pid: number, port: number): number {
  const inodes = new Set<string>();
  for (const table of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = fs.readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const localPort = parseInt(f[1]!.split(':')[1]!, 16);
      if (localPort === port && f[3] === '01') inodes.add(f[9]!);
    }
  }
  let n = 0;
  let fds: string[] = [];
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`);
  } catch {
    return 0;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m && inodes.has(m[1]!)) n++;
    } catch {
      // closed meanwhile
    }
  }
  return n;
}
