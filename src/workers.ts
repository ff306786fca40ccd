/**
 * A generation's workers (`--workers N`): the N-1 processes a leader runs beside itself,
 * all accepting on the same listening sockets, so the kernel spreads connections over
 * them and no process sits in the middle (unlike a cluster master that passes each
 * connection on).
 *
 * Design:
 *  - The leader is the process the pidfile names; it serves too. A worker is this app
 *    run again with FORKOVER_ROLE=worker, the listener fds at 3… and a readiness channel
 *    after them, exactly like a handoff's new generation (handoff.ts startSuccessor). It
 *    never touches the pidfile and ignores USR2/HUP: only the leader hands over.
 *  - Two-step start, so that a set that fails never took a connection (contracts R3.4,
 *    issue 3: "adopting the sockets is its last start-up step"). A worker runs the app up
 *    to `ready()` and says `READY` (prepared, not accepting yet); once every worker is
 *    prepared, the leader adopts its own sockets and sends `MAIN` (go) to each; each
 *    adopts and says `READY` again (serving). Only then does the leader publish the
 *    pidfile and report ready to its own parent. If any worker fails before that, the
 *    leader kills the prepared ones and fails its own start, so in a handoff the old
 *    generation sees the new leader fail and rolls back the whole new set.
 *  - The channel is also the worker's lifeline. EOF on it means the leader is gone or
 *    wants the worker to drain: either way the worker stops accepting, drains and exits.
 *    A draining leader therefore closes the channels instead of sending SIGTERM, because
 *    `forkover stop` also sends SIGTERM to every worker and a second SIGTERM means "exit
 *    now" (signals.ts), which would cut requests short.
 *  - A worker that exits while its generation serves is restarted after a bounded,
 *    doubling delay (WORKER_RESTART_MIN_MS … WORKER_RESTART_MAX_MS; a worker that ran for
 *    WORKER_STABLE_MS starts the backoff afresh), and the crash is logged. The leader
 *    rewrites the sidecar so `status` and `stop` know the new PID.
 *
 * Must not: know about the pidfile, signals or handoffs; the daemon calls in.
 */
import type { ChildProcess } from 'node:child_process';
import type * as net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { startSuccessor } from './handoff.js';
import { ENV } from './respawn.js';
import { parseChildLine, readLines } from './readiness.js';
import { log } from './log.js';
import { type Identity, readStat } from './proc.js';
import { WORKER_EXIT_GRACE_MS, WORKER_RESTART_MAX_MS, WORKER_RESTART_MIN_MS, WORKER_STABLE_MS } from './defaults.js';

export interface WorkerSetSpec {
  /** How many workers besides the leader. */
  count: number;
  /** The listening sockets, by name, as this process holds them. */
  listeners: { name: string; fd: number }[];
  logfile: string | undefined;
  /** The process title workers take (their identity in the sidecar). */
  title: string;
  cwd: string;
  /** Deadline for each step of a worker's start (prepared, then serving). */
  timeoutMs: number;
  /** Called when the set of live workers changed (a restart), to republish the sidecar. */
  onChange: () => void;
  /** Whether a worker that exited should be replaced (the generation still serves). */
  shouldRestart: () => boolean;
}

interface Worker {
  pid: number;
  child: ChildProcess;
  channel: net.Socket;
  identity: Identity;
  startedAt: number;
  /** Resolves with the worker's next line after the first READY (its serving READY), or its EOF. */
  next: Promise<'ready' | string>;
  exited: Promise<void>;
}

function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `was killed by ${signal}` : `exited with code ${code}`;
}

/** A leader's workers. Start with `WorkerSet.start()`, which resolves once all are prepared. */
export class WorkerSet {
  private readonly live = new Set<Worker>();
  private draining = false;
  private crashesInARow = 0;
  private readonly abort = new AbortController();

  private constructor(private readonly spec: WorkerSetSpec) {}

  /**
   * Start `spec.count` workers in parallel and wait until each is prepared (ran the app
   * up to `ready()`, not accepting yet). On any failure the others are killed and this
   * throws with the first reason: the caller fails its own start.
   */
  static async start(spec: WorkerSetSpec): Promise<WorkerSet> {
    const set = new WorkerSet(spec);
    let first: unknown;
    await Promise.all(
      Array.from({ length: spec.count }, () =>
        set.spawnOne().catch((err: unknown) => {
          // The first failure decides; abandoning the others (killed by startSuccessor)
          // keeps a hanging sibling from making the leader wait for its timeout.
          first ??= err;
          set.abort.abort();
        }),
      ),
    );
    if (first !== undefined) {
      await set.killAll();
      throw first;
    }
    return set;
  }

  /** The identities of the live workers, for the sidecar. */
  identities(): Identity[] {
    return [...this.live].map((w) => w.identity);
  }

  /**
   * Tell every prepared worker to adopt its sockets, and wait until each serves. Throws
   * (after killing them all) if one fails: the caller fails its start.
   */
  async go(): Promise<void> {
    try {
      await Promise.all([...this.live].map((w) => this.goOne(w)));
    } catch (err) {
      await this.killAll();
      throw err;
    }
    for (const w of this.live) this.supervise(w);
  }

  private async spawnOne(): Promise<Worker> {
    const result = await startSuccessor({
      listeners: this.spec.listeners,
      logfile: this.spec.logfile,
      env: { [ENV.ROLE]: 'worker', [ENV.CWD]: this.spec.cwd },
      keepNotify: false,
      timeoutMs: this.spec.timeoutMs,
      signal: this.abort.signal,
    });
    if (!result.ok) throw new Error(`worker ${result.reason.replace(/^new process/, 'process')}`);
    const { child, channel, pid } = result;
    // The worker's second READY (serving) comes only after our MAIN; listen from now on
    // so that no line is missed. The first READY was consumed by startSuccessor.
    const next = new Promise<'ready' | string>((resolve) => {
      let failed: string | undefined;
      readLines(
        channel,
        (line) => {
          const ev = parseChildLine(line);
          if (ev?.kind === 'ready') resolve('ready');
          if (ev?.kind === 'fail') failed ??= ev.reason;
        },
        () => resolve(failed ?? 'closed its channel'),
      );
    });
    const exited = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
    // Neither the channel nor the child may keep the leader alive: its servers do, and a
    // drain waits for the workers explicitly.
    channel.unref();
    child.unref();
    const stat = readStat(pid);
    const w: Worker = {
      pid,
      child,
      channel,
      identity: { pid, starttime: stat?.starttime ?? 0, title: this.spec.title },
      startedAt: Date.now(),
      next,
      exited,
    };
    this.live.add(w);
    return w;
  }

  private async goOne(w: Worker): Promise<void> {
    w.channel.write('MAIN\n');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<string>((resolve) => (timer = setTimeout(() => resolve(`did not start serving within ${this.spec.timeoutMs / 1000} s`), this.spec.timeoutMs)));
    const outcome = await Promise.race([w.next, timeout]);
    clearTimeout(timer);
    if (outcome !== 'ready') throw new Error(`worker process ${w.pid} failed to adopt the listening sockets: ${outcome}`);
  }

  /** Replace a worker that exits while the generation serves. */
  private supervise(w: Worker): void {
    void w.exited.then(async () => {
      this.live.delete(w);
      w.channel.destroy();
      if (this.draining || !this.spec.shouldRestart()) return;
      const lived = Date.now() - w.startedAt;
      if (lived >= WORKER_STABLE_MS) this.crashesInARow = 0;
      this.spec.onChange();
      await this.replace(`worker PID ${w.pid} ${describeExit(w.child.exitCode, w.child.signalCode)} after ${(lived / 1000).toFixed(1)} s`);
    });
  }

  private async replace(why: string): Promise<void> {
    for (;;) {
      const wait = Math.min(WORKER_RESTART_MAX_MS, WORKER_RESTART_MIN_MS * 2 ** this.crashesInARow);
      this.crashesInARow += 1;
      log(`${why}; starting a new worker in ${wait} ms`);
      try {
        await delay(wait, undefined, { signal: this.abort.signal, ref: false });
      } catch {
        return; // draining
      }
      if (this.draining || !this.spec.shouldRestart()) return;
      let w: Worker | undefined;
      try {
        w = await this.spawnOne();
        await this.goOne(w);
      } catch (err) {
        if (w) {
          this.live.delete(w);
          await this.kill(w);
        }
        if (this.draining) return;
        why = `restarting a worker failed: ${(err as Error).message}`;
        continue;
      }
      log(`worker PID ${w.pid} serves`);
      this.supervise(w);
      this.spec.onChange();
      return;
    }
  }

  /**
   * The generation drains: no more restarts; close each worker's channel (EOF makes it
   * drain and exit, see the header) and wait for all to exit. A worker still running
   * WORKER_EXIT_GRACE_MS past `deadline` (its own drain ends at the same deadline) is
   * SIGKILLed. Resolves when none is left.
   */
  async drain(deadline: number): Promise<void> {
    this.draining = true;
    this.abort.abort();
    const workers = [...this.live];
    for (const w of workers) w.channel.end();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), Math.max(0, deadline - Date.now()) + WORKER_EXIT_GRACE_MS)));
    const all = Promise.all(workers.map((w) => w.exited)).then(() => 'done' as const);
    if ((await Promise.race([all, late])) === 'late') {
      const left = workers.filter((w) => w.child.exitCode === null && w.child.signalCode === null);
      log(`--drain-timeout reached: killing ${left.length} worker(s) still running (PIDs ${left.map((w) => w.pid).join(', ')})`);
      await Promise.all(left.map((w) => this.kill(w)));
    }
    clearTimeout(timer);
  }

  /** Kill every worker now (a failed start: none of them serves yet). */
  async killAll(): Promise<void> {
    this.draining = true;
    this.abort.abort();
    await Promise.all([...this.live].map((w) => this.kill(w)));
    this.live.clear();
  }

  private async kill(w: Worker): Promise<void> {
    if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    await w.exited;
    w.channel.destroy();
  }
}
