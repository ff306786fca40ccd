/**
 * Who is a PID? Liveness and identity from /proc (contracts R2.6, R9.6, R10.3).
 *
 * A PID read from disk is only a number: the process it named may be gone, a zombie
 * nobody reaped, or a stranger that got the number later. forkover signals a PID only
 * after `verify()` says it is ours: alive, not a zombie, and with the start time and
 * title recorded when that generation claimed the pidfile.
 *
 * Must not: care where a PID came from, or send any signal but 0.
 */
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';

export interface ProcStat {
  pid: number;
  /** One letter, as in proc(5): R, S, D, Z, T, … */
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
  /** Clock ticks after boot (field 22); with the PID, a name no other process shares. */
  starttime: number;
  /** The first 15 bytes of the process title (the kernel's comm). */
  comm: string;
}

/** What a process was when it claimed the pidfile: the identity `verify()` checks. */
export interface Identity {
  pid: number;
  starttime: number;
  title: string;
}

export type Verdict =
  | { kind: 'ours'; stat: ProcStat }
  | { kind: 'dead'; reason: string }
  | { kind: 'foreign'; reason: string }
  | { kind: 'unknown'; reason: string };

const hasProc = (() => {
  try {
    readFileSync('/proc/self/stat');
    return true;
  } catch {
    return false;
  }
})();

/** Where process facts come from: /proc (Linux), or `ps` where there is none (macOS). */
export type StatSource = 'proc' | 'ps';

/**
 * Parse /proc/PID/stat. Returns undefined when the process does not exist.
 * The comm field may hold spaces and parentheses, so split after the *last* ')'.
 * `source` defaults to /proc when it exists; tests pass 'ps' to run the macOS path.
 */
export function readStat(pid: number, source: StatSource = hasProc ? 'proc' : 'ps'): ProcStat | undefined {
  if (source === 'ps') return psStat(pid);
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ESRCH') return undefined;
    throw err;
  }
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  const comm = text.slice(open + 1, close);
  const rest = text.slice(close + 2).split(' ');
  // rest[0] is field 3 (state); field N is rest[N - 3].
  return {
    pid,
    state: rest[0] ?? '?',
    ppid: Number(rest[1]),
    pgrp: Number(rest[2]),
    session: Number(rest[3]),
    starttime: Number(rest[19]),
    comm,
  };
}

/**
 * Without /proc (macOS), `ps` gives the state, parent, session and title; the start
 * time becomes the `lstart` string's seconds, which is coarser but still tells a
 * recycled PID from the original in practice. Documented in the README ("Platforms").
 *
 * The title comes from `command` (the argv area, which `process.title` overwrites on
 * every Unix), not `comm`: macOS's `comm` is the executable's path, which is "node" for
 * every Node process. `LC_ALL=C` keeps `lstart` in the English format Date.parse reads.
 */
function psStat(pid: number): ProcStat | undefined {
  let out: string;
  try {
    out = execFileSync('ps', ['-o', 'stat=,ppid=,pgid=,sess=,lstart=,command=', '-p', String(pid)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      env: { ...process.env, LC_ALL: 'C' },
    });
  } catch {
    return undefined;
  }
  // macOS prints `sess` as a session pointer (hex), Linux as a number.
  const m = /^\s*(\S+)\s+(\d+)\s+(\d+)\s+(\S+)\s+(\w{3} \w{3}\s+\d+ [\d:]+ \d+)\s+(.*)$/.exec(out.trim());
  if (!m) return undefined;
  return {
    pid,
    state: m[1]!.charAt(0),
    ppid: Number(m[2]),
    pgrp: Number(m[3]),
    session: /^\d+$/.test(m[4]!) ? Number(m[4]) : Number.NaN,
    starttime: Math.floor(Date.parse(m[5]!) / 1000),
    // A title has no spaces (--name forbids them): the first word of the command.
    comm: (m[6] ?? '').trim().split(/\s+/)[0]!.split('/').pop()!.slice(0, 15),
  };
}

/**
 * Is the PID a process that can still do anything? `kill(pid, 0)` answers ESRCH for
 * gone and EPERM for "exists under another uid" (R9.6); a zombie is dead (R2.6): where
 * PID 1 does not reap, a dead daemon lingers as one.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const stat = readStat(pid);
  return stat !== undefined && stat.state !== 'Z' && stat.state !== 'X';
}

/**
 * The real uid a process runs as, from /proc/PID/status (`Uid:` real, effective, …), or
 * from `ps` without /proc. Undefined when the process is gone.
 */
export function processUid(pid: number): number | undefined {
  try {
    const m = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    if (m) return Number(m[1]);
  } catch {
    if (hasProc) return undefined;
  }
  try {
    const out = execFileSync('ps', ['-o', 'ruid=', '-p', String(pid)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return /^\d+$/.test(out) ? Number(out) : undefined;
  } catch {
    return undefined;
  }
}

/** This process's identity, recorded when it claims the pidfile. */
export function selfIdentity(title: string, source?: StatSource): Identity {
  const stat = readStat(process.pid, source);
  return { pid: process.pid, starttime: stat?.starttime ?? 0, title };
}

/**
 * Is `pid` the process described by `expected`? Start time and title must both match:
 * the start time tells a recycled PID from the original, the title tells a daemon of
 * another name that happens to hold the same record.
 */
export function verify(pid: number, expected: Identity | undefined, source?: StatSource): Verdict {
  let stat: ProcStat | undefined;
  try {
    stat = readStat(pid, source);
  } catch (err) {
    return { kind: 'unknown', reason: `cannot read /proc/${pid}: ${(err as Error).message}` };
  }
  if (stat === undefined) {
    // No /proc entry. With /proc mounted hidepid=1/2 another user's live process has none
    // either; kill(pid, 0) still tells (EPERM = it exists): that is "unknown", not dead (R2.6).
    try {
      process.kill(pid, 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') return { kind: 'dead', reason: `PID ${pid} is not running` };
    }
    return { kind: 'unknown', reason: `PID ${pid} exists but /proc/${pid} is hidden (hidepid?); cannot verify it` };
  }
  if (stat.state === 'Z' || stat.state === 'X') return { kind: 'dead', reason: `PID ${pid} is a zombie` };
  if (expected === undefined || expected.pid !== pid) {
    return { kind: 'foreign', reason: `PID ${pid} (${stat.comm}) has no forkover record` };
  }
  if (expected.starttime !== stat.starttime) {
    return { kind: 'foreign', reason: `PID ${pid} (${stat.comm}) started after the daemon that wrote the pidfile: the PID was reused` };
  }
  if (expected.title.slice(0, 15) !== stat.comm) {
    return { kind: 'foreign', reason: `PID ${pid} is titled "${stat.comm}", not "${expected.title}"` };
  }
  return { kind: 'ours', stat };
}

/**
 * Is the sidecar's standby record still a standby of `leader`, waiting? Its start time
 * must match and its parent must be the leader; it is no longer waiting once it carries
 * the generation's title (an activated standby is the next generation). Its own title is
 * not compared: the record holds the name read when it was spawned, and Node 24 renames
 * its main thread "MainThread" during start-up, after that read (Node 20 and 22 leave it
 * "node"), so the recorded name is a guess, not an identity.
 */
export function isWaitingStandby(record: Identity, leader: Identity, source?: StatSource): boolean {
  let stat: ProcStat | undefined;
  try {
    stat = readStat(record.pid, source);
  } catch {
    return false;
  }
  return (
    stat !== undefined &&
    stat.state !== 'Z' &&
    stat.starttime === record.starttime &&
    stat.ppid === leader.pid &&
    stat.comm !== leader.title.slice(0, 15)
  );
}

/**
 * Wait until `pid` is gone (or a zombie), polling: it is not our child, so there is no
 * event to wait on. Resolves true when it went, false at the deadline.
 */
export async function waitForExit(pid: number, timeoutMs: number, intervalMs = 20): Promise<boolean> {
  return (await pollUntil(() => !isAlive(pid) || undefined, timeoutMs, intervalMs)) === true;
}

/**
 * Call `check` every `intervalMs` until it returns something other than undefined, or
 * the deadline passes (then undefined). For state we cannot get an event for: a process
 * that is not our child, a file another process rewrites.
 */
export async function pollUntil<T>(check: () => T | undefined, timeoutMs: number, intervalMs = 20): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) return undefined;
    await delay(Math.min(intervalMs, Math.max(1, deadline - Date.now())));
  }
}

/**
 * Is `signal` pending for `pid`, sent but not yet taken: the process is stopped (state T)
 * or has it blocked? From /proc/PID/status `SigPnd` (the thread's) and `ShdPnd` (the
 * process's), hex masks where bit N-1 is signal N. Undefined when that cannot be read
 * (the process is gone, or there is no /proc).
 */
export function isPending(pid: number, signal: NodeJS.Signals): boolean | undefined {
  const n = osConstants.signals[signal];
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const masks = [...text.matchAll(/^(?:SigPnd|ShdPnd):\s+([0-9a-f]+)$/gm)].map((m) => BigInt(`0x${m[1]}`));
  if (masks.length === 0) return undefined;
  return masks.some((mask) => ((mask >> BigInt(n - 1)) & 1n) === 1n);
}

/** Send `signal` to `pid`; true if it was delivered, false if the process was gone. */
export function signalPid(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}
