/**
 * PID 1 mode (issue 15): when forkover is a container's PID 1, or runs with `--init`, the
 * process the container started stays a small resident init. It runs no app code (its
 * `forkover()` call never returns, like the launcher's), starts the first generation as
 * its child, and from then on:
 *  - forwards USR2/HUP to the generation that serves, which hands over exactly as on a
 *    host (same ordering, rollback, drain, `--workers`, `--standby`): a replaced
 *    generation's successor is reparented to the init when its parent exits, so the
 *    container lives as long as a generation serves;
 *  - forwards TERM/INT/QUIT to it (a second one to every generation: "exit now", as on a
 *    host), waits until every generation has exited, and exits with the status of the
 *    last one that served (a generation killed by signal N counts as 128 + N);
 *  - reaps every child that exits, orphans included (native/init.c: Node reaps only what
 *    libuv spawned, so a Node PID 1 would otherwise collect zombies);
 *  - exits when the serving generation ends on its own (a crash, `process.exit()`),
 *    after telling any other generation to stop, so the container's restart policy acts.
 *
 * Which generation serves: each connects to the init's abstract unix socket (its name in
 * FORKOVER_INIT, passed from generation to generation) and says so once it serves
 * (init-link.ts); the init answers only for a descendant of its own.
 *
 * Not PID 1 (`--init`): the init makes itself a subreaper (prctl), so orphans still come
 * to it, and at its exit it sends SIGTERM to children of its own that are left.
 *
 * Must not: load the app, bind listeners or touch the pidfile (the generations do).
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { randomBytes } from 'node:crypto';
import { constants as os } from 'node:os';
import { spawn, type ChildProcess } from 'node:child_process';
import { INIT_EXIT_GRACE_MS, LOG_FILE_MODE } from './defaults.js';
import { describe } from './errors.js';
import { log } from './log.js';
import type { Settings } from './options.js';
import { readStat } from './proc.js';
import { ENV, childEnv, selfCommand } from './respawn.js';
import { loadAddon } from './native.js';
import { onInitSignals, type StopSignal, type UpgradeSignal } from './signals.js';

/** native/init.c, as loaded. */
export interface Reaper {
  /** Collect every exited child: [pid, exit code or -1, signal number or 0]. */
  reap(): [number, number, number][];
  /** prctl(PR_SET_CHILD_SUBREAPER, 1). */
  setSubreaper(): void;
}

let reaperCache: { mod?: Reaper; file?: string; error?: string } | undefined;

/** Load the reaper addon once (src/native.ts: prebuilt, then a local build); its absence is remembered with the reasons and the fix. */
export function loadReaper(): { mod?: Reaper; file?: string; error?: string } {
  if (reaperCache) return reaperCache;
  const r = loadAddon<Reaper>('forkover_init');
  reaperCache = 'error' in r ? { error: `PID 1 mode needs forkover's native reaper, which could not be loaded (${r.error})` } : r;
  return reaperCache;
}

type Status = { code: number | null; signal: NodeJS.Signals | null; known: boolean };

function exitStatus(s: Status): number {
  if (s.code !== null) return s.code;
  if (s.signal !== null) return 128 + (os.signals[s.signal] ?? 0);
  return 1;
}

function describeStatus(s: Status): string {
  if (!s.known) return 'exited (its status went to its parent, a generation still draining)';
  return s.signal ? `was killed by ${s.signal}` : `exited with code ${s.code}`;
}

/** True if `pid` descends from this process (its parent chain reaches us). */
function descendsFromUs(pid: number): boolean {
  let p = pid;
  for (let depth = 0; depth < 64 && p > 1; depth++) {
    const st = readStat(p);
    if (st === undefined) return false;
    if (st.ppid === process.pid) return true;
    p = st.ppid;
  }
  return false;
}

/** Our own live children, from /proc (orphans reparented to us included). */
function ownChildren(): number[] {
  const out: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    const pid = Number(e);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    const st = readStat(pid);
    if (st?.ppid === process.pid && st.state !== 'Z') out.push(pid);
  }
  return out;
}

interface Generation {
  pid: number;
  ended?: Status;
}

/**
 * Be the resident init until the last generation has exited; resolves to the exit status
 * (the caller exits with it).
 */
export async function runInit(settings: Settings, reaper: Reaper): Promise<number> {
  if (process.pid !== 1) reaper.setSubreaper();
  const gens = new Map<number, Generation>();
  let current: number | undefined;
  let everServed = false;
  let stopSignals = 0;
  let stopping = false;
  let lastStatus: number | undefined;
  let finish!: (code: number) => void;
  const finished = new Promise<number>((resolve) => (finish = resolve));
  let deadline: NodeJS.Timeout | undefined;
  let first: ChildProcess | undefined;

  const live = (): Generation[] => [...gens.values()].filter((g) => g.ended === undefined);
  const send = (pid: number, sig: NodeJS.Signals): void => {
    try {
      process.kill(pid, sig);
    } catch {
      // gone meanwhile: its exit is on its way
    }
  };

  const maybeExit = (): void => {
    if (stopping && current === undefined && live().length === 0) finish(lastStatus ?? 0);
  };

  /** Stop for good: the serving generation is told (or already gone); the others too if it ended. */
  const beginStop = (why: string, ms: number): void => {
    if (stopping) return;
    stopping = true;
    log(why);
    // Bounded, so that a generation that hangs cannot keep the container up forever
    // (a Kubernetes kubelet would SIGKILL us at terminationGracePeriodSeconds anyway).
    deadline = setTimeout(() => {
      const left = live();
      log(`generations still running after ${ms} ms (PIDs ${left.map((g) => g.pid).join(', ')}): killing them`);
      for (const g of left) send(g.pid, 'SIGKILL');
      finish(lastStatus ?? 1);
    }, ms);
  };

  const ended = (pid: number, status: Status): void => {
    const g = gens.get(pid);
    if (g === undefined || g.ended !== undefined) return;
    g.ended = status;
    log(`generation PID ${pid} ${describeStatus(status)}`);
    if (pid === current || (!everServed && current === undefined)) {
      current = undefined;
      // A generation told to stop that we could not see exit: its stop was the clean one.
      lastStatus = status.known ? exitStatus(status) : stopping ? 0 : 1;
      if (!stopping) {
        beginStop(
          everServed ? `the serving generation ended (PID ${pid}): stopping` : `the first generation (PID ${pid}) ended before it served: stopping`,
          settings.drainTimeoutMs + INIT_EXIT_GRACE_MS,
        );
        for (const other of live()) send(other.pid, 'SIGTERM');
      }
    }
    maybeExit();
  };

  const reapAll = (): void => {
    let reaped: [number, number, number][];
    try {
      reaped = reaper.reap();
    } catch (err) {
      log(`cannot reap: ${describe(err)}`);
      return;
    }
    for (const [pid, code, signum] of reaped) {
      const signal = signum > 0 ? ((Object.entries(os.signals).find(([, n]) => n === signum)?.[0] as NodeJS.Signals | undefined) ?? null) : null;
      ended(pid, { code: code >= 0 ? code : null, signal, known: true });
    }
  };

  // The generations' channel to us (init-link.ts): an abstract name, so it needs no
  // writable directory, which a container may not have.
  const name = `forkover-init.${process.pid}.${randomBytes(8).toString('hex')}`;
  const server = net.createServer((socket) => {
    let buf = '';
    let pid: number | undefined;
    socket.setEncoding('utf8');
    socket.on('error', () => {});
    socket.on('data', (chunk: string) => {
      buf += chunk;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        const m = /^SERVING (\d+)$/.exec(line);
        const claimed = m ? Number(m[1]) : undefined;
        if (claimed === undefined || !descendsFromUs(claimed)) {
          socket.write(`NO ${m ? `PID ${claimed} is not a process this init started` : 'unknown request'}\n`);
          continue;
        }
        pid = claimed;
        if (!gens.has(pid)) gens.set(pid, { pid });
        const before = current;
        current = pid;
        everServed = true;
        socket.write('OK\n');
        log(before === undefined || before === pid ? `generation PID ${pid} serves` : `generation PID ${pid} serves; PID ${before} drains`);
        if (stopping && stopSignals > 0 && pid !== before) send(pid, 'SIGTERM'); // it became ready while we stop
      }
    });
    socket.on('close', () => {
      // A generation whose parent is still alive (a drain that outlasts its successor) is
      // reaped by that parent, not by us: its closed channel is how we learn it is gone.
      if (pid === undefined) return;
      const st = readStat(pid);
      if (st !== undefined && st.ppid === process.pid) return; // ours: reap() has its status
      if (st === undefined || st.state === 'Z') ended(pid, { code: null, signal: null, known: false });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ path: `\0${name}` }, () => resolve());
  });

  onInitSignals({
    forward: (sig: StopSignal | UpgradeSignal) => {
      if (sig === 'SIGUSR2' || sig === 'SIGHUP') {
        if (current === undefined) log(`${sig} ignored: no generation serves yet`);
        else if (stopping) log(`${sig} ignored: stopping`);
        else {
          log(`${sig}: forwarded to PID ${current}`);
          send(current, sig);
        }
        return;
      }
      stopSignals += 1;
      beginStop(`${sig}: stopping`, settings.stopDelayMs + settings.drainTimeoutMs + INIT_EXIT_GRACE_MS);
      if (stopSignals === 1) {
        const target = current ?? first?.pid;
        if (target !== undefined) send(target, sig);
      } else {
        log(`another ${sig}: forwarded to every generation (PIDs ${live().map((g) => g.pid).join(', ')})`);
        for (const g of live()) send(g.pid, sig);
      }
      maybeExit();
    },
    childExited: reapAll,
  });

  // The first generation: this app again, with the role a launcher gives its daemon.
  let out: number | 'inherit' = 'inherit';
  if (settings.logfile !== undefined) {
    try {
      out = fs.openSync(settings.logfile, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT, LOG_FILE_MODE);
    } catch (err) {
      log(`cannot open log file ${settings.logfile}: ${describe(err)}`);
      return 1;
    }
  }
  const { file, args } = selfCommand();
  first = spawn(file, args, {
    stdio: ['ignore', out, out],
    cwd: process.cwd(),
    env: childEnv(process.env, { [ENV.ROLE]: 'daemon', [ENV.CWD]: settings.cwd, [ENV.INIT]: name }),
  });
  if (typeof out === 'number') fs.closeSync(out);
  const pid = first.pid;
  if (pid === undefined) {
    const err = await new Promise<Error>((resolve) => first!.once('error', resolve));
    log(`cannot start the first generation: ${err.message}`);
    return 1;
  }
  gens.set(pid, { pid });
  // libuv may collect this one before reap() does (native/init.c): take either.
  first.once('exit', (code, signal) => ended(pid, { code, signal, known: true }));
  first.unref();
  log(`${process.pid === 1 ? 'PID 1' : '--init'}: started the first generation as PID ${pid}`);
  reapAll();

  const code = await finished;
  clearTimeout(deadline);
  server.close();
  if (process.pid !== 1) {
    // As PID 1 the kernel ends what is left; as a subreaper, orphans would outlive us.
    for (const pid of ownChildren()) send(pid, 'SIGTERM');
  }
  log(`exiting with status ${code}`);
  return code;
}
