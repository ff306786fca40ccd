/**
 * Start the next generation and wait for it: spawn this app again with the listening
 * sockets, a fresh log fd and a readiness channel; resolve once it reports ready, or
 * kill it and say why not (exit code, signal, timeout, its own FAIL reason).
 *
 * With `--standby`, the process is spawned ahead of time (Standby.spawn): Node starts and
 * waits in its preload (standby.ts) before the app loads, and the handoff only sends it
 * the environment of the moment. A standby that no longer matches what a cold start
 * would get (other listeners, a rotated log, a replaced Node binary, or dead) is
 * discarded and the handoff starts cold.
 *
 * One handoff at a time is the caller's rule (daemon.ts); this file runs one attempt.
 *
 * Must not: install signal handlers, print, or touch the pidfile.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import type * as net from 'node:net';
import { ENV, childEnv, nodePath, selfCommand, strayFds } from './respawn.js';
import { awaitChild, type ChildEvent, type ReadyInfo } from './readiness.js';
import { incompatibility, ownStamp } from './protocol.js';
import { LOG_FILE_MODE } from './defaults.js';
import { packageRoot } from './root.js';
import { type Identity, isAlive, readStat } from './proc.js';

/** What every process of the next generation is started with, standby or not. */
export interface LaunchSpec {
  listeners: { name: string; fd: number }[];
  /** Open this afresh for the child's stdout and stderr; otherwise it shares ours. */
  logfile: string | undefined;
  keepNotify: boolean;
  /** Fds known to be close-on-exec (open connections), asked for when the child starts: strayFds skips them. */
  closeOnExec?: () => ReadonlySet<number>;
}

export interface SuccessorSpec extends LaunchSpec {
  /** Extra environment for the child (its role, the handoff record). */
  env: Record<string, string>;
  timeoutMs: number;
  /** Aborting abandons the attempt: the child is killed. */
  signal: AbortSignal;
  /** A process Standby.spawn started; used if it still fits, discarded otherwise. */
  standby?: Standby;
  /** Named in the message that refuses a successor of an incompatible protocol (protocol.ts). */
  pidfile?: string;
}

export type SuccessorResult = (
  | {
      ok: true;
      pid: number;
      child: ChildProcess;
      channel: net.Socket;
      info: ReadyInfo;
      /**
       * The READY was read only after --upgrade-timeout had passed, before the deadline
       * was acted on: this process was stalled (stopped, blocked) while the successor got ready.
       */
      readLate: boolean;
    }
  | {
      ok: false;
      pid: number | undefined;
      reason: string;
      /** Refused for its hand-over protocol before it changed anything (protocol.ts), rather than failed. */
      refused?: boolean;
    }
) & {
  /** What became of spec.standby, for the log: `used standby PID N` or `discarded standby PID N: <why>`. */
  standby?: string;
};

/** The process started, with the channel it reports on and the variables that describe its fds. */
interface Launched {
  child: ChildProcess;
  pid: number;
  channel: net.Socket;
  fdEnv: Record<string, string>;
  /** A standby's go channel (standby.ts). */
  go: net.Socket | undefined;
  /** The log file as the child got it (device and inode), if it got one of its own. */
  logKey: string | undefined;
}

/**
 * The file a standby's Node preloads: standby.ts as built, beside dist/index.js. This
 * code runs from dist/ (tsc), from dist/chunks/ (the bundle) or from src/ (the tests).
 */
function standbyPreload(): string | undefined {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const dir of [here, path.dirname(here), path.join(packageRoot(), 'dist')]) {
    const file = path.join(dir, 'standby.js');
    if (fs.existsSync(file)) return pathToFileURL(file).href;
  }
  return undefined;
}

/** Spawn the app again with the listeners at fds 3…, then the readiness channel (and a standby's go channel). */
async function launch(spec: LaunchSpec, env: Record<string, string>, standbyGoFd: boolean): Promise<Launched | { reason: string }> {
  const preload = standbyGoFd ? standbyPreload() : undefined;
  if (standbyGoFd && preload === undefined) return { reason: `forkover's standby preload (dist/standby.js) is missing from ${packageRoot()}; reinstall forkover` };
  let out: number | 'inherit' = 'inherit';
  if (spec.logfile !== undefined) {
    try {
      // The new generation gets the log opened afresh by path, so a rotated log is
      // picked up by the handoff (contracts R8.2a).
      out = fs.openSync(spec.logfile, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT, LOG_FILE_MODE);
    } catch (err) {
      return { reason: `cannot open log file ${spec.logfile}: ${(err as Error).message}` };
    }
  }
  const readyFd = 3 + spec.listeners.length;
  const fds = spec.listeners.map((l) => l.fd);
  const stdio: StdioOptions = ['ignore', out, out, ...fds, 'pipe', ...(standbyGoFd ? (['pipe'] as const) : [])];
  const fdEnv: Record<string, string> = {
    [ENV.FDS]: JSON.stringify(spec.listeners.map((l) => l.name)),
    [ENV.READY_FD]: String(readyFd),
    [ENV.CLOSE_FDS]: strayFds([...fds, ...(typeof out === 'number' ? [out] : [])], spec.closeOnExec?.()).join(','),
  };
  const { file, args } = selfCommand();
  let logKey: string | undefined;
  let child: ChildProcess;
  try {
    if (typeof out === 'number') logKey = statKey(fs.fstatSync(out));
    child = spawn(file, preload !== undefined ? ['--import', preload, ...args] : args, {
      stdio,
      cwd: process.cwd(),
      env: childEnv(process.env, { ...env, ...fdEnv, ...(standbyGoFd ? { [ENV.STANDBY_FD]: String(readyFd + 1) } : {}) }, spec.keepNotify),
    });
  } catch (err) {
    return { reason: `cannot start the new generation: ${(err as Error).message}` };
  } finally {
    if (typeof out === 'number') fs.closeSync(out);
  }
  const pid = child.pid;
  if (pid === undefined) {
    const err = await new Promise<Error>((resolve) => child.once('error', resolve));
    return { reason: `cannot start the new generation: ${err.message}` };
  }
  const go = standbyGoFd ? (child.stdio[readyFd + 1] as net.Socket) : undefined;
  return { child, pid, channel: child.stdio[readyFd] as net.Socket, fdEnv, go, logKey };
}

function statKey(st: fs.Stats): string {
  return `${st.dev}:${st.ino}`;
}

/** A file's identity (with `content`, its size and mtime too), or undefined if it is gone. */
function fileKey(file: string, content = false): string | undefined {
  try {
    const st = fs.statSync(file);
    return content ? `${statKey(st)}:${st.size}:${st.mtimeMs}` : statKey(st);
  } catch {
    return undefined;
  }
}

function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  if (signal) return `was killed by ${signal}`;
  return `exited with code ${code}`;
}

/**
 * A successor's Node, started ahead of a handoff and waiting in its preload. It costs an
 * idle Node process (`npm run bench` prints its RSS and the part not shared with other
 * Node processes), which is why `--standby` is not the default.
 */
export class Standby {
  private exited = false;
  /** Activated or discarded: its exit is no longer news. */
  private taken = false;
  /**
   * Who it is while it waits, for the sidecar and `status`: its title is Node's own
   * (`node`) until the app loads and takes the generation's title, so once activated it
   * no longer verifies as the standby.
   */
  readonly identity: Identity;

  private constructor(
    private readonly launched: Launched & { go: net.Socket },
    /** Everything that must still hold at the handoff for this process to be what a cold start would be. */
    private readonly key: { listeners: string; log: string | undefined; node: string | undefined; keepNotify: boolean },
    onExit: (how: string) => void,
  ) {
    const stat = readStat(launched.pid);
    this.identity = { pid: launched.pid, starttime: stat?.starttime ?? 0, title: stat?.comm ?? '' };
    launched.child.once('exit', (code, signal) => {
      this.exited = true;
      if (!this.taken) onExit(describeExit(code, signal));
    });
  }

  get pid(): number {
    return this.launched.pid;
  }

  /** Start one; `onExit` hears of its end while it is still waiting (a crash, or a kill). */
  static async spawn(spec: LaunchSpec, onExit: (how: string) => void): Promise<Standby | { reason: string }> {
    const node = fileKey(nodePath(), true);
    const r = await launch(spec, {}, true);
    if ('reason' in r) return r;
    const go = r.go!;
    go.on('error', () => {}); // EPIPE once it is gone: its exit tells us
    // Waiting, it must not hold this generation's event loop open.
    r.channel.unref();
    go.unref();
    r.child.unref();
    // The log as the standby got it: the inode it holds open. A rotation since then
    // (contracts R8.2a) means a cold start, which opens the new file by path.
    return new Standby({ ...r, go }, { listeners: JSON.stringify(spec.listeners), log: r.logKey, node, keepNotify: spec.keepNotify }, onExit);
  }

  /** Why this standby cannot be the successor `spec` describes, or undefined if it can. */
  private mismatch(spec: LaunchSpec): string | undefined {
    if (this.exited || !isAlive(this.pid)) return 'it is gone';
    if (JSON.stringify(spec.listeners) !== this.key.listeners) return 'the listeners changed since it started';
    if (spec.keepNotify !== this.key.keepNotify) return 'the systemd notify mode changed since it started';
    if (spec.logfile !== undefined && fileKey(spec.logfile) !== this.key.log) return `${spec.logfile} was rotated or removed since it started`;
    if (fileKey(nodePath(), true) !== this.key.node) return `${nodePath()} was replaced since it started`;
    return undefined;
  }

  /** Hand it the environment of this moment and let it load the app; or discard it and say why it does not fit. */
  activate(spec: SuccessorSpec): Launched | { reason: string } {
    this.taken = true;
    const why = this.mismatch(spec);
    if (why !== undefined) {
      this.discard();
      return { reason: why };
    }
    const env = childEnv(process.env, { ...spec.env, ...this.launched.fdEnv }, spec.keepNotify);
    this.launched.go.end(`${JSON.stringify({ env, cwd: process.cwd() })}\n`);
    this.launched.channel.ref();
    this.launched.child.ref();
    return this.launched;
  }

  /** No longer needed: kill it (it holds the listeners and the log open). */
  discard(): void {
    this.taken = true;
    this.launched.go.destroy();
    this.launched.channel.destroy();
    if (!this.exited) this.launched.child.kill('SIGKILL');
  }
}

/** Start a successor and wait for it to become ready (contracts R3.4 steps 1–2). */
export async function startSuccessor(spec: SuccessorSpec): Promise<SuccessorResult> {
  let standby: string | undefined;
  let launched: Launched | { reason: string } | undefined;
  if (spec.standby) {
    launched = spec.standby.activate(spec);
    if ('reason' in launched) {
      standby = `discarded standby PID ${spec.standby.pid}: ${launched.reason}`;
      launched = undefined;
    } else standby = `used standby PID ${spec.standby.pid}`;
  }
  launched ??= await launch(spec, spec.env, false);
  if ('reason' in launched) return { ok: false, pid: undefined, reason: launched.reason, standby };
  const { child, pid, channel } = launched;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode });
    else child.once('exit', (code, signal) => resolve({ code, signal }));
  });

  let timer: NodeJS.Timeout | undefined;
  let immediate: NodeJS.Immediate | undefined;
  /** Set when the deadline passed before the READY was read: this process was not running (issue 17). */
  let timerFired = false;
  const armedAt = performance.now();
  const stopped = new Promise<'timeout' | 'aborted'>((resolve) => {
    // The deadline is judged on what the successor did, not on when this process gets to
    // run. After a stall (SIGSTOP, a long GC pause, a blocking call) the expired timer
    // runs in the same loop turn that finds the channel readable, and timers come before
    // I/O: a READY written long ago would lose to it, and a successor that serves, named
    // in the pidfile, would be killed. So the timer only marks the deadline; the verdict
    // waits for setImmediate, which runs after that turn's I/O poll has read the channel.
    timer = setTimeout(() => {
      timerFired = true;
      immediate = setImmediate(() => resolve('timeout'));
    }, spec.timeoutMs);
    if (spec.signal.aborted) resolve('aborted');
    spec.signal.addEventListener('abort', () => resolve('aborted'), { once: true });
  });
  // The child's PROTOCOL line comes before it adopts a socket or writes the pidfile: one
  // this build cannot speak to is refused there, and the child killed (protocol.ts).
  const judge = (stamp: Parameters<typeof incompatibility>[1]) => incompatibility(ownStamp(), stamp, { running: process.pid, next: pid, pidfile: spec.pidfile });
  const event: ChildEvent | 'timeout' | 'aborted' = await Promise.race([awaitChild(channel, judge), stopped]);
  clearTimeout(timer);
  if (immediate !== undefined) clearImmediate(immediate);
  if (typeof event === 'object' && event.kind === 'ready') {
    // Late by the clock as well as by the timer: a process stopped inside its I/O poll
    // reads the channel on resuming before its timers get a turn (seen on Node 24). The
    // timer stays in the test: libuv judges it on the loop's cached time, so it can fire
    // a little before performance.now() shows the full timeout.
    const readLate = timerFired || performance.now() - armedAt >= spec.timeoutMs;
    if (event.info.pid === pid) return { ok: true, pid, child, channel, info: event.info, standby, readLate };
  }

  if (typeof event === 'object' && event.kind === 'refused') {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    channel.destroy();
    return { ok: false, pid, reason: event.reason, refused: true, standby };
  }
  // Failed: make sure it is gone, then say why in its own terms. EOF usually comes a
  // moment before the exit status, so give the status a moment to arrive.
  if (typeof event === 'object') {
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise((r) => (grace = setTimeout(r, 1_000)))]);
    clearTimeout(grace);
  }
  const alive = child.exitCode === null && child.signalCode === null;
  if (alive) child.kill('SIGKILL');
  const { code, signal } = await exited;
  channel.destroy();
  let reason: string;
  if (event === 'timeout') reason = `new process ${pid} did not become ready within --upgrade-timeout ${spec.timeoutMs / 1000} s and was killed`;
  else if (event === 'aborted') reason = `the handoff was abandoned; new process ${pid} was killed`;
  else if (event.kind === 'fail') reason = `new process ${pid} failed to start (${event.reason}) and ${alive ? 'was killed' : describeExit(code, signal)}`;
  else if (event.kind === 'ready') reason = `new process ${pid} reported the wrong PID ${event.info.pid} and was killed`;
  else reason = `new process ${pid} ${alive ? 'closed its channel and was killed' : describeExit(code, signal)} before becoming ready`;
  return { ok: false, pid, reason, standby };
}
