/**
 * A generation's life: start (claim the pidfile, or be handed sockets by a parent), get
 * ready (bind or adopt every listener, publish, tell whoever waits), hand over to a
 * successor on USR2/HUP, drain, exit.
 *
 * Invariants (README "Guarantees"):
 *  - The pidfile names a live generation at every instant a generation serves: a new
 *    generation rewrites it only once it accepts connections, and the old one stops
 *    accepting only after that (contracts R3.3).
 *  - One handoff at a time; a failed one leaves the old generation serving, the pidfile
 *    naming it, and the next USR2 free to try again.
 *  - A final exit removes the pidfile only if it still names this process (R2.7).
 */
import * as fs from 'node:fs';
import type * as net from 'node:net';
import type { ChildProcess } from 'node:child_process';
import { ForkoverError, describe } from './errors.js';
import { type DroppedLines, addDropped, log, logFailure, onLogFailure, takeDropped } from './log.js';
import type { Settings } from './options.js';
import {
  type DaemonState,
  type HandoffOutcome,
  alreadyRunning,
  lockPidfile,
  publish,
  readPid,
  readState,
  recordFor,
  removeIfOwn,
  statePath,
  writeState,
} from './pidfile.js';
import { type Identity, selfIdentity, verify, waitForExit } from './proc.js';
import { ENV, closeStrays } from './respawn.js';
import { incompatibility, ownStamp, parseStamp, unversionedStamp } from './protocol.js';
import { ParentChannel } from './readiness.js';
import {
  type InheritedFd,
  type ListenAddress,
  type UsedListener,
  adopt,
  bind,
  defaultName,
  describeBound,
  parseInherited,
  serverFd,
} from './listeners.js';
import { type DrainHook, connectionFds, drainGeneration, track } from './drain.js';
import { checkSignalConflicts, onFinalExit, onSignals, type StopSignal } from './signals.js';
// The handoff code is part of every generation's start: each one needs it in memory
// before READY, because a deploy that replaces dist/ right after a start removes the
// files a later import() would read (handoff.test.ts), and inside the bundle's one start
// chunk it costs less than a chunk of its own (scripts/bundle.mjs). Loaded only when
// needed, to keep a generation's start-up close to bare Node (issue 6):
// systemd/supervisor.js (and with it node:tls, for the watchdog) in notify mode only,
// privileges.js with --user only, workers.js with --workers only.
import type { Supervisor } from './systemd/supervisor.js';
import { planAdoption } from './systemd/activation.js';
import type { HealthCheck } from './systemd/watchdog.js';
import type { WorkerSet } from './workers.js';
import { type LaunchSpec, Standby, type SuccessorResult, startSuccessor } from './handoff.js';
import type { InitLink } from './init-link.js';
import { HEALTH_LISTENER } from './defaults.js';

/** Variables that mean systemd is talking to us (notify socket, watchdog): load the supervisor. */
const SYSTEMD_ENV = ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID', 'FORKOVER_WATCHDOG_USEC', 'FORKOVER_NOTIFY_TRANSPORT'];

/** How this process came to be. A 'worker' serves beside its leader (`--workers`, workers.ts). */
export type Role = 'foreground' | 'daemon' | 'child' | 'worker';

/** What the parent of a handoff passes to the child, in FORKOVER_HANDOFF. */
interface HandoffRecord {
  seq: number;
  startedAt: number;
  generation: number;
  parent: Identity;
  draining: Identity[];
}

/** The result of an upgrade attempt, as `upgrade()` resolves it. */
export type UpgradeResult =
  | { outcome: 'ok'; pid: number; durationMs: number }
  | { outcome: 'rolled-back' | 'refused'; reason: string }
  | { outcome: 'ignored'; reason: string };

type Phase = 'starting' | 'ready' | 'upgrading' | 'draining' | 'stopping';

/** Close an inherited socket that this version does not listen on. */
function closeUnclaimed(i: InheritedFd): void {
  log(`closing inherited listener "${i.name}" (fd ${i.fd}): this version does not use it`);
  try {
    fs.closeSync(i.fd);
  } catch {
    // already closed
  }
}

export type { DrainHook } from './drain.js';

/**
 * One generation of a forkover-managed server. Get it from `forkover()`; register
 * servers with `listen()`, then call `ready()`.
 */
export class Daemon {
  private phase: Phase = 'starting';
  private readonly used: UsedListener[] = [];
  /** dev/ino of each unix socket path we bound or adopted, to remove only our own at exit. */
  private readonly socketFiles = new Map<string, { dev: number; ino: number }>();
  private inherited: InheritedFd[] = [];
  private channel: ParentChannel | undefined;
  private readonly hooks = new Set<DrainHook>();
  private handoffSeq = 0;
  private generation = 1;
  private drainingGenerations: Identity[] = [];
  private lastHandoff: HandoffOutcome | null = null;
  private upgradeAbort: AbortController | undefined;
  private stopRequests = 0;
  private readonly startedAt = new Date();
  private identity: Identity;
  private handoff: HandoffRecord | undefined;
  /** `--standby`: the next generation's Node, started and waiting (handoff.ts). */
  private standby: Standby | undefined;
  /** A standby being started: a handoff waits for it, which beats a cold start. */
  private arming: Promise<void> | undefined;
  /** The leader's workers (`--workers N`, N > 1), once started. */
  private workers: WorkerSet | undefined;
  /** Workers a handoff's new leader started in init(), before the app loaded. */
  private earlyWorkers: Promise<{ set?: WorkerSet; err?: unknown }> | undefined;
  /** A worker's go-ahead from its leader (`MAIN`): adopt the sockets now (workers.ts). */
  private goAhead: (() => void) | undefined;
  /** systemd notify mode (NOTIFY_SOCKET was set): what we tell systemd (contracts §4). */
  private systemd: Supervisor | undefined;
  /** The app's own watchdog self-check (`onHealthCheck`), replacing the default request. */
  private appHealthCheck: HealthCheck | undefined;
  /** PID 1 mode: the init's socket name, and our connection to it (init-link.ts). */
  private initName: string | undefined;
  private initLink: InitLink | undefined;
  /** allowLateListen(): how long unclaimed inherited sockets wait for a late listen(). */
  private lateGraceMs = 0;
  private unclaimed: InheritedFd[] = [];
  private exitResolve!: (code: number) => void;
  /** Resolves with the exit code just before this generation exits. */
  readonly exited: Promise<number>;

  /** @internal use `forkover()` */
  constructor(
    readonly settings: Settings,
    readonly role: Role,
  ) {
    this.exited = new Promise((resolve) => (this.exitResolve = resolve));
    this.identity = { pid: process.pid, starttime: 0, title: settings.name };
  }

  /** True when this generation was started by a handoff from a previous one. */
  get hasParent(): boolean {
    return this.role === 'child';
  }

  /** The addresses this generation serves, once ready. */
  get addresses(): { name: string; address: string }[] {
    return this.appListeners().concat(this.used.filter((l) => l.name === HEALTH_LISTENER)).map((l) => ({ name: l.name, address: l.bound ?? '?' }));
  }

  /** True while this generation accepts and serves as usual: ready, or handing over. Not during a stop delay. */
  get serving(): boolean {
    return this.phase === 'ready' || this.phase === 'upgrading';
  }

  /** The app's own self-check (`onHealthCheck`), if it registered one. */
  get healthCheck(): HealthCheck | undefined {
    return this.appHealthCheck;
  }

  /** The app's listeners: every one but the `--health` endpoint (health.ts), which workers do not serve. */
  private appListeners(): UsedListener[] {
    return this.used.filter((l) => l.name !== HEALTH_LISTENER);
  }

  /**
   * Start-up that must happen before the app does anything else: read and clear what
   * the parent passed, take the title, claim the pidfile.
   * @internal
   */
  async init(env: NodeJS.ProcessEnv): Promise<void> {
    const readyFd = env[ENV.READY_FD] !== undefined ? Number(env[ENV.READY_FD]) : undefined;
    const names = env[ENV.FDS];
    const strays = env[ENV.CLOSE_FDS];
    const handoff = env[ENV.HANDOFF];
    const parentProtocol = env[ENV.PROTOCOL];
    this.initName = env[ENV.INIT];
    // Our variables must not reach the app's own children (R1.6).
    for (const k of Object.values(ENV)) delete env[k];
    this.inherited = parseInherited(names, 3);
    closeStrays(strays, [...this.inherited.map((i) => i.fd), ...(readyFd !== undefined ? [readyFd] : [])]);
    if (readyFd !== undefined) {
      if (!Number.isInteger(readyFd) || readyFd < 3) {
        throw new ForkoverError('INHERITED_INVALID', `${ENV.READY_FD} is ${readyFd}, not an fd number of 3 or more`);
      }
      this.channel = new ParentChannel(readyFd);
      // The channel comes right after the listeners (handoff.ts, detach.ts); anything else
      // means the names and the fds do not add up, and adopting could take the wrong socket.
      if (readyFd !== 3 + this.inherited.length) {
        throw new ForkoverError(
          'INHERITED_INVALID',
          `${ENV.FDS} names ${this.inherited.length} listener(s) at fds 3…, so the readiness channel should be fd ${3 + this.inherited.length}, but ${ENV.READY_FD} is ${readyFd}; the parent passed inconsistent handoff metadata`,
        );
      }
      // Once the channel is known to be the channel, before anything else goes over it or changes: our protocol, for the parent
      // to judge (protocol.ts), and our own judgement of the parent's. The parent may be an
      // older or a newer release (a deploy, a rollback); forkover up to e8509a1 sets no
      // FORKOVER_PROTOCOL and is protocol 1.
      this.channel.protocol(ownStamp());
      const parent = parseStamp(parentProtocol) ?? unversionedStamp();
      // A handoff's child, a worker (restarted after a deploy, it may run another release
      // than its leader) and a launcher's daemon alike: the parent is the running side.
      const why = incompatibility(parent, ownStamp(), { running: process.ppid, next: process.pid, pidfile: this.settings.pidfile });
      if (why) throw new ForkoverError('PROTOCOL_MISMATCH', why);
      this.channel.open({
        onEnd: () => {
          // The launcher or old generation went away before we were ready: nobody would
          // know about us, so do not linger (contracts §1; issue: launcher killed).
          if (this.phase === 'starting') {
            log('the process that started this one went away before it was ready; exiting');
            void this.abandonStart();
          } else if (this.role === 'worker') {
            // The leader is gone, or drains and asks us to (workers.ts): drain and exit.
            log('the leader closed the channel: draining');
            void this.stop();
          }
        },
        // Log lines our predecessor could not write, passed on as it exits (log.ts, issue 17).
        onDropped: (record) => addDropped(record as DroppedLines),
        onMain: () => {
          this.goAhead?.();
          // A handoff's parent passed the main PID to us (R4.5): start the watchdog pings.
          if (this.role === 'child') this.systemd?.becameMain(`serving as PID ${process.pid} (generation ${this.generation})`);
        },
      });
      process.on('uncaughtExceptionMonitor', (err) => {
        if (this.phase === 'starting') this.channel?.fail(err instanceof Error ? `${err.name}: ${err.message}` : String(err));
      });
    }
    if (handoff !== undefined) {
      try {
        this.handoff = JSON.parse(handoff) as HandoffRecord;
      } catch {
        throw new ForkoverError('INHERITED_INVALID', `${ENV.HANDOFF} is not valid JSON`);
      }
      this.handoffSeq = this.handoff.seq;
      this.generation = this.handoff.generation;
    }
    checkSignalConflicts();
    // PID 1 mode: connect now, so that ready() only has a line to send (init-link.ts).
    if (this.initName !== undefined && this.role !== 'worker') {
      const { InitLink } = await import('./init-link.js');
      this.initLink = InitLink.connect(this.initName);
    }
    // Notify mode (R4.1: foreground only; a --daemon launcher strips NOTIFY_SOCKET).
    // Throws if NOTIFY_SOCKET is set and no transport works (R4.7 c): a start-up error.
    if (this.role !== 'worker' && SYSTEMD_ENV.some((k) => env[k] !== undefined)) {
      const [{ Supervisor }, watchdog] = await Promise.all([import('./systemd/supervisor.js'), import('./systemd/watchdog.js')]);
      const defaultCheck = (): HealthCheck => {
        const target = watchdog.targetFor(this.appListeners()[0]?.server);
        return target === undefined ? () => Promise.reject(new Error('no listener to check')) : watchdog.requestCheck(target);
      };
      this.systemd = Supervisor.fromEnv(env, this.role === 'child', { healthCheck: () => this.appHealthCheck ?? defaultCheck(), log });
    }
    // The title is what init scripts match on (R6.4) and part of our recorded identity.
    process.title = this.settings.name;
    this.identity = selfIdentity(this.settings.name);
    onFinalExit(() => this.cleanupAtExit());
    // `status` shows a failing log (a full disk) from the sidecar (issue 17).
    onLogFailure(() => this.republish());
    onSignals({ stop: (sig) => this.onStopSignal(sig), upgrade: (sig) => void this.upgrade(sig) });
    // A handoff's new leader knows its sockets already: start its workers now, so they
    // boot while this process loads the app, instead of after (prepareWorkers() takes
    // them if the app serves exactly the listeners handed over).
    if (this.role === 'child' && this.settings.workers > 1 && this.inherited.length > 0) this.earlyWorkers = this.startWorkers(this.inherited.filter((i) => i.name !== HEALTH_LISTENER));
    // Only a leader started by the launcher or in the foreground claims the pidfile; a
    // handoff's child publishes once ready, and a worker never touches it.
    if (this.role !== 'child' && this.role !== 'worker' && this.settings.pidfile !== undefined) await this.claim(this.settings.pidfile);
  }

  /**
   * Single-instance start (R2.5): under the pidfile lock, refuse if the pidfile names a
   * live, verified daemon; otherwise replace it (logging why the old one was stale) and
   * write our own PID.
   */
  private async claim(pidfile: string): Promise<void> {
    const release = await lockPidfile(pidfile, 15_000);
    try {
      let pid: number | undefined;
      try {
        pid = readPid(pidfile);
      } catch (err) {
        log(`replacing unusable pidfile: ${describe(err)}`);
      }
      if (pid !== undefined && pid !== process.pid) {
        const verdict = verify(pid, recordFor(readState(pidfile), pid));
        if (verdict.kind === 'ours') {
          throw alreadyRunning(pid, pidfile);
        }
        if (verdict.kind === 'unknown') {
          throw new ForkoverError('IDENTITY_UNKNOWN', `cannot tell whether PID ${pid} from ${pidfile} is running: ${verdict.reason}`, { pid, path: pidfile });
        }
        log(`replacing stale pidfile ${pidfile}: ${verdict.reason}`);
      }
      publish(pidfile, this.snapshot());
    } finally {
      await release().catch(() => {});
    }
  }

  /**
   * Our parent went away before we were ready. If it was a handoff's old generation that
   * died (SIGKILL mid-handoff), nobody else will remove the pidfile naming it: once it
   * is dead, remove that pidfile (R2.7 on its behalf), so it names a live generation or
   * nothing (issue 5: signal races). Then exit.
   */
  private async abandonStart(): Promise<void> {
    const parent = this.role === 'child' ? this.handoff?.parent : undefined;
    const pidfile = this.settings.pidfile;
    try {
      if (parent !== undefined && pidfile !== undefined && (await waitForExit(parent.pid, 2_000)) && removeIfOwn(pidfile, parent.pid)) {
        log(`removed ${pidfile}: it named PID ${parent.pid}, which died during the handoff`);
      }
    } catch (err) {
      log(`cannot remove ${pidfile}: ${describe(err)}`);
    }
    this.exitNow(1);
  }

  /** What this generation publishes in the pidfile's sidecar. */
  private snapshot(): DaemonState {
    return {
      version: 1,
      protocol: ownStamp(),
      leader: { ...this.identity, startedAt: this.startedAt.toISOString(), generation: this.generation },
      workers: [this.identity, ...(this.workers?.identities() ?? [])],
      draining: this.drainingGenerations,
      listeners: this.addresses,
      handoffSeq: this.handoffSeq,
      lastHandoff: this.lastHandoff,
      standby: this.standby?.identity ?? null,
      // `forkover reload` bounds its wait by this generation's own deadline (issue 17).
      upgradeTimeoutMs: this.settings.upgradeTimeoutMs,
      log: { path: this.settings.logfile ?? null, failing: logFailure() ?? null },
    };
  }

  /**
   * Register a server. forkover binds it, or adopts the socket a previous generation
   * handed over under the same name, when `ready()` runs; the app's code is the same
   * either way. Returns the daemon, for chaining.
   */
  listen(server: net.Server, address: ListenAddress | number | string): this {
    if (this.phase !== 'starting') throw new ForkoverError('NOT_READY', 'listen() must come before ready()');
    const addr: ListenAddress =
      typeof address === 'number' ? { port: address } : typeof address === 'string' ? { path: address } : { ...address };
    if (addr.port !== undefined && (!Number.isInteger(addr.port) || addr.port < 0 || addr.port > 65535)) {
      throw new TypeError(`port must be a whole number from 0 to 65535, not ${addr.port}`);
    }
    if (addr.path !== undefined && addr.port !== undefined) throw new TypeError('give a port or a path, not both');
    const name = addr.name ?? defaultName(addr);
    if (this.used.some((l) => l.name === name)) {
      throw new TypeError(`two listeners are named "${name}"; give each a distinct { name }`);
    }
    track(server);
    this.used.push({ name, server, address: addr, inherited: false });
    return this;
  }

  /**
   * Bind (or adopt `inherited`) one registered listener and record what it serves on:
   * the ready phase does this for each, and a late listen() for its own.
   */
  private async open(l: UsedListener, inherited: InheritedFd | undefined): Promise<void> {
    if (inherited) {
      await adopt(l.server, inherited, l.address.backlog);
      l.inherited = true;
    } else if (!l.server.listening) {
      await bind(l.server, l.address);
    }
    l.fd = serverFd(l.server);
    l.bound = describeBound(l.server, l.address);
    if (l.address.path !== undefined && !l.address.path.startsWith('\0')) {
      // lstat the path, not fstat the fd: a socket fd's inode lives in sockfs, never
      // equal to the socket file's, so cleanupAtExit would never remove the path.
      const st = fs.lstatSync(l.address.path);
      this.socketFiles.set(l.address.path, { dev: st.dev, ino: st.ino });
    }
  }

  /**
   * `forkover start` (takeover.ts): keep the sockets the previous generation handed over
   * but no listener claimed at ready open for `ms`, for a listen() that comes after ready
   * (Fastify's second address for "localhost" comes after a DNS lookup), so that it
   * adopts the socket instead of failing with EADDRINUSE beside the old generation.
   * Connections queue on such a socket meanwhile; an address this version dropped is
   * closed when the time is up.
   */
  allowLateListen(ms: number): void {
    this.lateGraceMs = ms;
  }

  private holdForLateListen(unclaimed: InheritedFd[]): void {
    this.unclaimed = unclaimed;
    setTimeout(() => {
      this.unclaimed.forEach(closeUnclaimed);
      this.unclaimed = [];
    }, this.lateGraceMs).unref();
  }

  /**
   * A listener registered after ready (`forkover start` only): bound now, or adopted
   * from the previous generation's unclaimed socket of the same name, and handed over
   * from now on like the others. Undefined when it cannot be one (not serving yet or
   * handing over, `--workers`, a name in use): the caller binds it as plain Node would.
   */
  listenLate(server: net.Server, address: ListenAddress): Promise<void> | undefined {
    if (this.phase !== 'ready' || this.settings.workers > 1 || this.lateGraceMs === 0) return undefined;
    const name = defaultName(address);
    if (this.used.some((l) => l.name === name)) return undefined;
    const inherited = this.unclaimed.find((i) => i.name === name);
    this.unclaimed = this.unclaimed.filter((i) => i !== inherited);
    track(server);
    const l: UsedListener = { name, server, address, inherited: false };
    return this.open(l, inherited).then(() => {
      this.used.push(l);
      this.republish();
      log(`listener "${name}" registered after ready: ${l.bound}${inherited ? ' (adopted)' : ''}; handed over from the next reload on`);
    });
  }

  /**
   * Replace the watchdog's default self-check (an HTTP request to the first listener)
   * with the app's own: it resolves when healthy and is given the ping interval to do
   * so (R4.6). Only used under a systemd `WatchdogSec=`. Returns its undo.
   */
  onHealthCheck(check: HealthCheck): () => void {
    this.appHealthCheck = check;
    return () => {
      if (this.appHealthCheck === check) this.appHealthCheck = undefined;
    };
  }

  /** Register a function to run when this generation drains. Returns its undo. */
  onDrain(hook: DrainHook): () => void {
    this.hooks.add(hook);
    return () => this.hooks.delete(hook);
  }

  /**
   * Start serving: adopt inherited sockets (or bind new ones), publish the pidfile, and
   * tell the launcher or the old generation. Adopting is the last step, so a generation
   * that fails earlier never accepted a connection.
   */
  async ready(): Promise<void> {
    if (this.phase !== 'starting') return;
    try {
      // Socket-activated fds (only a non-child can have them): a lone socket goes to a
      // lone server whatever the names (systemd/activation.ts).
      if (this.role !== 'child' && this.role !== 'worker' && this.inherited.length > 0) {
        this.inherited = planAdoption(this.inherited, this.used.map((l) => l.name));
      }
      // After the activation plan: workers get the sockets under the names the leader uses.
      await this.prepareWorkers();
      for (const l of this.used) await this.open(l, this.inherited.find((i) => i.name === l.name));
      const unclaimed = this.inherited.filter((i) => !this.used.some((l) => l.name === i.name));
      if (this.lateGraceMs > 0 && this.role === 'child' && unclaimed.length > 0) this.holdForLateListen(unclaimed);
      else unclaimed.forEach(closeUnclaimed);
      // R1.10, R10.4: every listener is bound; drop root (--user) before publishing and READY.
      const pf = this.settings.pidfile;
      if (this.settings.user !== undefined) {
        const { dropPrivileges } = await import('./privileges.js');
        dropPrivileges(this.settings, pf !== undefined && this.role !== 'child' && this.role !== 'worker' ? [pf, statePath(pf)] : []);
      }
      // The leader publishes and reports ready only once all its workers serve.
      await this.workers?.go();
      if (this.settings.pidfile !== undefined && this.role !== 'worker') {
        if (this.role === 'child') this.publishAsSuccessor(this.settings.pidfile);
        else writeState(this.settings.pidfile, this.snapshot());
      }
    } catch (err) {
      await this.workers?.killAll();
      this.fatal(err);
    }
    // PID 1 mode: the init must name us before our parent hears READY and stops (init-link.ts).
    const unheard = await this.initLink?.serving();
    if (unheard !== undefined) log(`the init did not take note of this generation: ${unheard}; signals sent to the container may not reach it`);
    this.phase = 'ready';
    log(`ready: ${this.settings.name} ${this.role === 'worker' ? `worker of PID ${process.ppid}` : `generation ${this.generation}`}, listening on ${this.addresses.map((a) => a.address).join(', ') || 'nothing'}`);
    this.channel?.ready({ pid: process.pid, listeners: this.addresses });
    try {
      this.systemd?.ready(`serving on ${this.addresses.map((a) => a.address).join(', ')} (generation ${this.generation})`);
    } catch (err) {
      this.fatal(err);
    }
    // --standby: once start-up is over, start the standby; a USR2 from then on waits for it
    // instead of starting cold. (The handoff code itself was loaded before the pidfile.)
    if (this.role !== 'worker' && this.settings.standby) setTimeout(() => this.armStandby(), 0).unref();
  }

  /**
   * `--standby`: start the next generation's Node now, so that a handoff skips Node's
   * own start (handoff.ts, standby.ts). Runs once this generation is ready and again
   * after a rolled-back handoff. A standby that fails to start or dies is logged; the
   * next handoff then starts cold.
   */
  private armStandby(): void {
    if (!this.settings.standby || this.standby !== undefined || this.arming !== undefined || this.phase !== 'ready' || process.pid === 1) return; // PID 1 here: no handoffs (upgrade())
    this.arming = this.spawnStandby().finally(() => (this.arming = undefined));
  }

  private async spawnStandby(): Promise<void> {
    let r: Standby | { reason: string };
    try {
      r = await Standby.spawn(this.launchSpec(), (how) => {
        const waiting = this.standby;
        if (waiting === undefined || waiting !== r) return; // used or discarded: not news
        this.standby = undefined;
        log(`standby PID ${waiting.pid} ${how} while waiting; the next handoff starts cold`);
        this.republish();
      });
    } catch (err) {
      r = { reason: describe(err) };
    }
    if ('reason' in r) {
      log(`cannot start a standby: ${r.reason}; the next handoff starts cold`);
      return;
    }
    if ((this.phase !== 'ready' && this.phase !== 'upgrading') || this.standby !== undefined) {
      r.discard(); // stopping or drained meanwhile
      return;
    }
    this.standby = r;
    this.republish(); // before the log line, which tests and operators wait for
    log(`standby PID ${r.pid} started for the next handoff`);
  }

  /** What every process of the next generation is started with. */
  private launchSpec(): LaunchSpec {
    return {
      listeners: this.used.map((l) => ({ name: l.name, fd: l.fd! })),
      logfile: this.settings.logfile,
      keepNotify: this.systemd !== undefined, // R1.6: notify mode only
      closeOnExec: () => connectionFds(this.used.map((l) => l.server)),
    };
  }

  /**
   * `--workers` (see workers.ts for the design). A worker reports prepared and waits for
   * its leader's go-ahead before it adopts anything. A leader binds its new sockets,
   * starts its workers on those and on the inherited ones, and adopts the inherited ones
   * only after every worker is prepared, so a set that fails never took a connection.
   */
  private async prepareWorkers(): Promise<void> {
    if (this.role === 'worker') {
      const missing = this.used.find((l) => !this.inherited.some((i) => i.name === l.name));
      if (missing) {
        throw new ForkoverError('INHERITED_INVALID', `this worker registers listener "${missing.name}", which its leader did not hand over; workers must run the leader's code and flags`);
      }
      const go = new Promise<void>((resolve) => (this.goAhead = resolve));
      // Nothing else holds the event loop yet (the channel is unref'd, the servers do not
      // listen): keep the process alive until the go-ahead or the channel's EOF.
      const hold = setInterval(() => {}, 60_000);
      this.channel?.ready({ pid: process.pid, listeners: [] });
      await go;
      clearInterval(hold);
      return;
    }
    if (this.settings.workers <= 1) return;
    const early = this.earlyWorkers;
    this.earlyWorkers = undefined;
    if (early) {
      const r = await early;
      if (r.err !== undefined) throw r.err;
      const same = this.used.length === this.inherited.length && this.used.every((l) => this.inherited.some((i) => i.name === l.name));
      if (same) {
        this.workers = r.set;
        return;
      }
      // This version serves other listeners than the ones handed over: start afresh.
      await r.set!.killAll();
    }
    for (const l of this.used) {
      if (!this.inherited.some((i) => i.name === l.name)) await bind(l.server, l.address);
    }
    const r = await this.startWorkers(this.appListeners().map((l) => ({ name: l.name, fd: this.inherited.find((i) => i.name === l.name)?.fd ?? serverFd(l.server) })));
    if (r.err !== undefined) throw r.err;
    this.workers = r.set;
  }

  /** Start `--workers` - 1 workers on these sockets; resolves (never rejects) once all are prepared. */
  private async startWorkers(listeners: { name: string; fd: number }[]): Promise<{ set?: WorkerSet; err?: unknown }> {
    try {
      // Loaded only here, so a generation of one process does not pay for it at start-up.
      const { WorkerSet } = await import('./workers.js');
      const set = await WorkerSet.start({
        count: this.settings.workers - 1,
        listeners,
        logfile: this.settings.logfile,
        title: this.settings.name,
        cwd: this.settings.cwd,
        timeoutMs: this.role === 'child' ? this.settings.upgradeTimeoutMs : this.settings.startTimeoutMs,
        onChange: () => this.republish(),
        // Replace crashed workers while this generation serves, not once it drains.
        shouldRestart: () => this.phase === 'ready' || this.phase === 'upgrading',
      });
      log(`started ${this.settings.workers - 1} worker(s): PIDs ${set.identities().map((w) => w.pid).join(', ')}`);
      return { set };
    } catch (err) {
      return { err };
    }
  }

  /** A worker was replaced, or a standby started or died: keep the sidecar current, for `status` and `stop`. */
  private republish(): void {
    if (this.phase !== 'ready' || this.settings.pidfile === undefined) return;
    try {
      writeState(this.settings.pidfile, this.snapshot());
    } catch (err) {
      log(`cannot update ${this.settings.pidfile}: ${describe(err)}`);
    }
  }

  /** A successor writes the sidecar and the pidfile once it serves (R2.4, R3.3). */
  private publishAsSuccessor(pidfile: string): void {
    const h = this.handoff!;
    this.drainingGenerations = [...h.draining, h.parent];
    this.lastHandoff = {
      seq: h.seq,
      outcome: 'ok',
      reason: null,
      oldPid: h.parent.pid,
      newPid: process.pid,
      durationMs: Date.now() - h.startedAt,
      at: new Date().toISOString(),
    };
    publish(pidfile, this.snapshot());
  }

  /** Previous generations still draining, verified alive. */
  private liveDraining(): Identity[] {
    return this.drainingGenerations.filter((g) => verify(g.pid, g).kind === 'ours');
  }

  /**
   * Hand over to a new generation (contracts R3.4). Resolves with the outcome; on 'ok'
   * this generation is draining and will exit.
   */
  async upgrade(trigger: string = 'upgrade()'): Promise<UpgradeResult> {
    if (this.role === 'worker') {
      log(`${trigger} ignored: this is a worker; signal the leader, the PID in the pidfile`);
      return { outcome: 'ignored', reason: 'this process is a worker; only the leader hands over' };
    }
    if (this.phase === 'upgrading') {
      log(`${trigger} ignored: a handoff is already in progress`);
      return { outcome: 'ignored', reason: 'a handoff is already in progress' };
    }
    if (this.phase !== 'ready') {
      log(`${trigger} ignored: this generation is ${this.phase}`);
      return { outcome: 'ignored', reason: `this generation is ${this.phase}` };
    }
    const refuse = (reason: string): UpgradeResult => {
      log(`${trigger}: handoff refused: ${reason}`);
      this.handoffSeq += 1;
      this.recordOutcome({ outcome: 'refused', reason, newPid: null, durationMs: null });
      return { outcome: 'refused', reason };
    };
    if (process.pid === 1) {
      // Only without PID 1 mode (init-process.ts), whose native reaper failed to load:
      // then the app runs as PID 1 itself, and the container would end with the old generation.
      return refuse(
        "this process is PID 1 (a container init) and forkover's PID 1 mode is unavailable (its native reaper did not load, see the start-up warning); rebuild it with \"npm rebuild forkover\", or restart the container instead",
      );
    }
    const draining = this.liveDraining();
    if (draining.length >= this.settings.maxDraining) {
      return refuse(
        `${draining.length} replaced generations are still draining (PIDs ${draining.map((d) => d.pid).join(', ')}), the --max-draining limit; retry once they finish`,
      );
    }
    this.phase = 'upgrading';
    const seq = this.handoffSeq + 1;
    const startedAt = Date.now();
    log(`${trigger}: starting generation ${this.generation + 1} (handoff ${seq})`);
    this.systemd?.handoffStarting(`handoff ${seq}: starting generation ${this.generation + 1}`); // R4.3
    this.upgradeAbort = new AbortController();
    const record: HandoffRecord = { seq, startedAt, generation: this.generation + 1, parent: this.identity, draining };
    // A standby still starting is a few milliseconds from ready; a cold start is a Node start.
    if (this.arming !== undefined) await this.arming;
    const result: SuccessorResult = await startSuccessor({
      ...this.launchSpec(),
      standby: this.takeStandby(),
      env: {
        [ENV.ROLE]: 'child',
        [ENV.CWD]: this.settings.cwd,
        [ENV.HANDOFF]: JSON.stringify(record),
        ...(this.initName !== undefined ? { [ENV.INIT]: this.initName } : {}),
        ...(this.systemd?.successorEnv() ?? {}),
      },
      timeoutMs: this.settings.upgradeTimeoutMs,
      signal: this.upgradeAbort.signal,
      pidfile: this.settings.pidfile,
    });
    this.upgradeAbort = undefined;
    if (result.standby !== undefined) log(`handoff ${seq}: ${result.standby}`);
    if (!result.ok && result.refused === true) {
      // Its protocol is not ours (protocol.ts): the child was stopped before it changed anything.
      this.handoffSeq = seq;
      this.recordOutcome({ outcome: 'refused', reason: result.reason, newPid: result.pid ?? null, durationMs: Date.now() - startedAt });
      log(`handoff ${seq} refused: ${result.reason}; PID ${process.pid} ${this.stopRequests > 0 ? 'stops now, as asked' : 'keeps serving'}`);
      if (this.phase === 'upgrading') this.phase = 'ready';
      this.systemd?.rolledBack(`handoff ${seq} refused: ${result.reason}`);
      if (this.stopRequests > 0) void this.stop();
      else this.armStandby();
      return { outcome: 'refused', reason: result.reason };
    }
    if (!result.ok) {
      this.handoffSeq = seq;
      this.recordOutcome({ outcome: 'rolled-back', reason: result.reason, newPid: result.pid ?? null, durationMs: Date.now() - startedAt });
      // A stop that came during the handoff (USR2, then TERM at once) runs next: saying
      // this generation keeps serving would be untrue a moment later (issue 17).
      log(`handoff ${seq} rolled back: ${result.reason}; PID ${process.pid} ${this.stopRequests > 0 ? 'stops now, as asked' : 'keeps serving'}`);
      if (this.phase === 'upgrading') this.phase = 'ready';
      this.systemd?.rolledBack(`handoff ${seq} rolled back: ${result.reason}`);
      if (this.stopRequests > 0) void this.stop();
      else this.armStandby();
      return { outcome: 'rolled-back', reason: result.reason };
    }
    const durationMs = Date.now() - startedAt;
    // A READY read only after the deadline was sent in time: this process was not running
    // (SIGSTOP, a blocking call) when it arrived; say so rather than let the time mislead.
    const late = result.readLate ? `; this process was stalled past --upgrade-timeout ${this.settings.upgradeTimeoutMs / 1000} s and read its READY late` : '';
    log(`handoff ${seq}: PID ${result.pid} serves (${durationMs} ms${late}); draining`);
    if (this.systemd) {
      // R4.5: MAINPID=<new> + READY=1 in one datagram from us, the main PID systemd
      // still listens to; only then tell the successor it is main (it starts pinging).
      this.systemd.handedOver(result.pid, `handed over to PID ${result.pid} (generation ${this.generation + 1})`);
      result.channel.write('MAIN\n');
    }
    this.handOver(result.child, result.channel);
    return { outcome: 'ok', pid: result.pid, durationMs };
  }

  /**
   * Record a handoff that did not happen. If the failed successor had already written
   * the pidfile, this writes our own PID back (R2.4).
   */
  private recordOutcome(o: Pick<HandoffOutcome, 'outcome' | 'reason' | 'newPid' | 'durationMs'>): void {
    this.lastHandoff = { seq: this.handoffSeq, oldPid: process.pid, at: new Date().toISOString(), ...o };
    if (this.settings.pidfile === undefined) return;
    try {
      publish(this.settings.pidfile, this.snapshot());
    } catch (err) {
      log(`cannot restore ${this.settings.pidfile}: ${describe(err)}`);
    }
  }

  /** After a successful handoff: stop accepting, drain, exit (R3.4 step 3). */
  private handOver(child: ChildProcess, channel: net.Socket): void {
    this.phase = 'draining';
    // Keep the channel open until we exit: its EOF tells the successor we are gone.
    channel.unref();
    child.unref();
    // Log lines we could not write (a full disk) go to the successor, which reports them
    // once it can write (log.ts): a small write on an idle socketpair completes at once,
    // so it gets out from the exit event too.
    process.once('exit', () => {
      const dropped = takeDropped();
      if (dropped !== undefined && !channel.destroyed) channel.write(`DROPPED ${JSON.stringify(dropped)}\n`);
    });
    void this.drainAndExit('handoff', 0);
  }

  private onStopSignal(sig: StopSignal): void {
    this.stopRequests += 1;
    if (this.stopRequests > 1) {
      log(`second ${sig}: exiting now`);
      this.exitNow(1);
      return;
    }
    log(`${sig}: stopping`);
    void this.stop();
  }

  /**
   * Stop gracefully: abandon a handoff in progress, stop accepting, let requests finish
   * within `--drain-timeout`, exit 0. A generation that is not ready yet exits at once.
   */
  async stop(): Promise<void> {
    if (this.phase === 'starting') {
      this.exitNow(0);
      return;
    }
    if (this.phase === 'upgrading') {
      this.upgradeAbort?.abort();
      return; // upgrade() resumes stop() once the successor is gone
    }
    if (this.phase !== 'ready') return;
    this.phase = 'stopping';
    this.systemd?.stopping('stopping: draining connections'); // R4.3
    await this.drainAndExit('stop', 0);
  }

  /** The standby, now out of our hands: a handoff uses it or discards it. */
  private takeStandby(): Standby | undefined {
    const sb = this.standby;
    this.standby = undefined;
    return sb;
  }

  /** The drain phase (drain.ts drainGeneration), then exit with `code`. */
  private async drainAndExit(reason: 'stop' | 'handoff', code: number): Promise<void> {
    this.takeStandby()?.discard();
    await drainGeneration({
      reason,
      servers: this.used.map((l) => l.server),
      hooks: this.hooks,
      workers: this.workers,
      drainTimeoutMs: this.settings.drainTimeoutMs,
      stopDelayMs: this.settings.stopDelayMs,
      log,
    });
    log(reason === 'handoff' ? 'drained; exiting' : 'stopped');
    this.exitNow(code);
  }

  /** Print a start-up failure where the waiting process will see it, and exit 1. */
  fatal(err: unknown): never {
    const message = describe(err);
    log(`cannot start: ${message}`);
    this.channel?.fail(message);
    this.exitNow(1);
  }

  private exitNow(code: number): never {
    this.exitResolve(code);
    process.exit(code);
  }

  /** Synchronous cleanup on any final exit: our pidfile, our unix socket paths. */
  private cleanupAtExit(): void {
    const pidfile = this.settings.pidfile;
    if (this.phase === 'draining') return; // handed over: the successor owns everything
    if (this.role === 'worker') return; // the leader owns the pidfile and the socket paths
    if (pidfile !== undefined) {
      try {
        removeIfOwn(pidfile, process.pid);
      } catch {
        // nothing more to do at exit
      }
    }
    // A stopped daemon's socket paths go with it (libuv would unlink them, but bind()
    // bound them under temporary names); only if the path is still the socket we served.
    if (this.phase === 'stopping' || this.phase === 'ready') {
      for (const [file, ours] of this.socketFiles) {
        try {
          const onDisk = fs.lstatSync(file);
          if (onDisk.ino === ours.ino && onDisk.dev === ours.dev) fs.unlinkSync(file);
        } catch {
          // gone already
        }
      }
    }
  }
}
