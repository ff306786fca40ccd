/**
 * What the launcher and a handoff share when they start the next process: the command
 * line that re-runs this app, a sanitised environment, and the list of stray fds the
 * new process must close.
 *
 * Must not: spawn anything itself.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PROTOCOL_ENV, formatStamp, ownStamp } from './protocol.js';

/** Internal variables, set by forkover for the process it starts and removed on read. */
export const ENV = {
  ROLE: 'FORKOVER_ROLE', // 'daemon' (started by the launcher) or 'child' (started by a handoff)
  READY_FD: 'FORKOVER_READY_FD', // fd of the channel to the parent (readiness.ts)
  FDS: 'FORKOVER_FDS', // JSON names of the listeners at fds 3…
  CLOSE_FDS: 'FORKOVER_CLOSE_FDS', // stray fds inherited by accident, to close at start
  CWD: 'FORKOVER_CWD', // the directory the user launched from; relative paths resolve here
  HANDOFF: 'FORKOVER_HANDOFF', // JSON: what the parent knows about this handoff
  STANDBY_FD: 'FORKOVER_STANDBY_FD', // a standby's go channel (standby.ts, which spells it out: it imports nothing)
  INIT: 'FORKOVER_INIT', // PID 1 mode: the init's socket (abstract name), passed on to every generation (init-link.ts)
  PROTOCOL: PROTOCOL_ENV, // the parent's hand-over protocol stamp (protocol.ts), set on every process we start
} as const;

/** Variables no child may inherit from us (contracts R1.6). */
const STRIP = [
  'LISTEN_PID',
  'LISTEN_FDS',
  'LISTEN_FDNAMES',
  'LISTEN_PIDFDID',
  'WATCHDOG_PID',
  'WATCHDOG_USEC',
  'NODE_CHANNEL_FD',
  'NODE_CHANNEL_SERIALIZATION_MODE',
  'NODE_UNIQUE_ID',
];

/**
 * Node flags that every process forkover starts from this one gets first: `forkover
 * start`'s preload (start.ts) puts its own `--import` here instead of leaving it in
 * process.execArgv, where the app's own fork() and cluster children would inherit it.
 */
const preloads: string[] = [];

/** Start every later generation, worker and standby with `node --import <url>` (start.ts). */
export function preloadInEveryGeneration(url: string): void {
  preloads.splice(0, preloads.length, '--import', url);
}

/**
 * The path of the Node binary this process was started by: argv[0], looked up on PATH
 * as the exec did when it has no slash, if it named this very binary at start-up; else
 * process.execPath. process.execPath is the resolved file (/proc/self/exe): for a Node
 * started as /usr/local/bin/node, a symlink a deploy switches to another version
 * (Homebrew, nvm-style "current" links, update-alternatives), every later generation
 * would otherwise run on the version the first one started on.
 */
function startedBy(): string {
  const argv0 = process.argv0;
  let candidate: string | undefined;
  if (argv0.includes('/')) {
    candidate = path.resolve(argv0);
  } else {
    for (const dir of (process.env.PATH ?? '').split(':')) {
      if (dir === '') continue;
      const file = path.resolve(dir, argv0);
      try {
        fs.accessSync(file, fs.constants.X_OK);
        candidate = file;
        break;
      } catch {
        // not here
      }
    }
  }
  try {
    if (candidate !== undefined && fs.realpathSync(candidate) === fs.realpathSync(process.execPath)) return candidate;
  } catch {
    // gone since: use the file that runs
  }
  return process.execPath;
}

/** Read once, at start-up: what argv[0] and PATH named then. */
const nodeBinary = startedBy();

/**
 * The Node binary every later process is started with (startedBy). A handoff compares
 * the file behind it at the handoff with the one at the standby's start.
 */
export function nodePath(): string {
  return nodeBinary;
}

/** The command that re-runs this app with the same Node flags and arguments (R1.3). */
export function selfCommand(): { file: string; args: string[] } {
  return { file: nodeBinary, args: [...preloads, ...process.execArgv, ...process.argv.slice(1)] };
}

/**
 * A copy of `env` without activation, watchdog, IPC and forkover's own variables, plus
 * this build's protocol stamp (protocol.ts: the child judges it before it does anything)
 * and `extra`. `keepNotify` keeps NOTIFY_SOCKET (notify mode only, R1.6).
 */
export function childEnv(env: NodeJS.ProcessEnv, extra: Record<string, string>, keepNotify = false): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) continue;
    if (STRIP.includes(k) || k.startsWith('FORKOVER_')) continue;
    if (k === 'NOTIFY_SOCKET' && !keepNotify) continue;
    out[k] = v;
  }
  return { ...out, [ENV.PROTOCOL]: formatStamp(ownStamp()), ...extra };
}

const O_CLOEXEC = 0o2000000;

/**
 * This process's fds that a spawned child would inherit by accident: open, above 2, and
 * without FD_CLOEXEC. Node marks fds 0–15 (and on to the first gap) close-on-exec at
 * start-up and opens its own with O_CLOEXEC (R1.4), so these can only be high fds that
 * were inherited across a gap. Core Node cannot set FD_CLOEXEC, and /bin/sh cannot name
 * fds above 9, so the list travels to the child, which closes them first thing.
 * Linux only (fdinfo); elsewhere the list is empty.
 *
 * `closeOnExec` names fds known to be close-on-exec without asking: a generation passes
 * its servers' open connections (drain.ts connectionFds), which libuv accepts with
 * SOCK_CLOEXEC. Asking costs a /proc read per fd, about 11 µs, on the event loop of the
 * generation that serves, at every handoff: with 10,000 open connections 113 ms, and
 * 22 ms with them skipped (the directory listing is left); with 32, 0.59 and 0.26 ms
 * (medians of 9, 2026-12-07, Node 20 on the 2-CPU machine).
 */
export function strayFds(keep: number[] = [], closeOnExec: ReadonlySet<number> = new Set()): number[] {
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc/self/fdinfo');
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const e of entries) {
    const fd = Number(e);
    if (!Number.isInteger(fd) || fd <= 2 || keep.includes(fd) || closeOnExec.has(fd)) continue;
    try {
      const info = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
      const flags = /^flags:\s*([0-7]+)/m.exec(info);
      if (flags && (parseInt(flags[1]!, 8) & O_CLOEXEC) === 0) out.push(fd);
    } catch {
      // closed between readdir and read (readdir's own fd, for one)
    }
  }
  return out;
}

/** Close the stray fds a parent listed (see strayFds). */
export function closeStrays(list: string | undefined, keep: number[]): void {
  if (!list) return;
  for (const s of list.split(',')) {
    const fd = Number(s);
    if (!Number.isInteger(fd) || fd <= 2 || keep.includes(fd)) continue;
    try {
      fs.closeSync(fd);
    } catch {
      // already closed
    }
  }
}
