/**
 * What a generation tells systemd in notify mode (contracts §4), in one place, so that
 * daemon.ts only says *when* something happens:
 *
 *   ready (first generation)  READY=1, STATUS=…; the watchdog starts (R4.3, R4.6)
 *   ready (a successor)       nothing: it is not the main PID yet (R4.5)
 *   handoff starts            RELOADING=1 + MONOTONIC_USEC=<CLOCK_MONOTONIC µs> (R4.3)
 *   successor ready           MAINPID=<new> + READY=1 in ONE datagram from the old
 *                             generation, which stops pinging; then the parent writes
 *                             `MAIN` to the successor's channel (R4.5)
 *   `MAIN` received           the successor starts pinging: it is main now (R4.6)
 *   handoff rolled back       READY=1 + STATUS= (ends the reload systemd entered)
 *   stop begins               STOPPING=1 (R4.3)
 *
 * Notify mode is foreground only (R4.1): a `--daemon` launcher strips NOTIFY_SOCKET.
 *
 * Must not: decide anything about generations; it reports.
 */
import { NOTIFY_TRANSPORT_ENV, type Notifier, openNotifier } from './notify.js';
import { type CheckTarget, type HealthCheck, WATCHDOG_ENV, Watchdog, requestCheck, watchdogFromEnv } from './watchdog.js';

export interface SupervisorHooks {
  /** The current self-check: the app's own, or a request to our first listener. */
  healthCheck: () => HealthCheck;
  log: (line: string) => void;
}

export class Supervisor {
  private watchdog: Watchdog | undefined;
  private main: boolean;

  private constructor(
    readonly notifier: Notifier,
    private readonly watchdogUsec: number | undefined,
    private readonly forced: string | undefined,
    private readonly hooks: SupervisorHooks,
    isSuccessor: boolean,
  ) {
    this.main = !isSuccessor;
  }

  /**
   * Read NOTIFY_SOCKET and the watchdog variables, and remove them from `env` so the
   * app's own children never see them (R1.6). Undefined when not supervised. Throws when
   * NOTIFY_SOCKET is set and no transport works (R4.7 c).
   */
  static fromEnv(env: NodeJS.ProcessEnv, isSuccessor: boolean, hooks: SupervisorHooks): Supervisor | undefined {
    const usec = watchdogFromEnv(env);
    const notifier = openNotifier(env);
    const forced = env[NOTIFY_TRANSPORT_ENV];
    delete env.NOTIFY_SOCKET;
    delete env[NOTIFY_TRANSPORT_ENV];
    if (notifier === undefined) return undefined;
    hooks.log(`notify mode: NOTIFY_SOCKET ${notifier.socket} via ${notifier.transport}${notifier.file !== undefined ? ` (${notifier.file})` : ''}${usec ? `, watchdog every ${usec / 2000} ms` : ''}`);
    if (notifier.transport === 'systemd-notify' && process.getuid?.() !== 0) {
      // It would speak with its own PID, which NotifyAccess=main ignores (README).
      hooks.log('warning: systemd-notify cannot speak for this non-root process; the unit needs NotifyAccess=all, or rebuild the native transport with "npm rebuild forkover"');
    }
    return new Supervisor(notifier, usec, forced, hooks, isSuccessor);
  }

  /** What the next generation needs to go on speaking to systemd. */
  successorEnv(): Record<string, string> {
    return {
      NOTIFY_SOCKET: this.notifier.socket,
      ...(this.watchdogUsec !== undefined ? { [WATCHDOG_ENV]: String(this.watchdogUsec) } : {}),
      ...(this.forced !== undefined ? { [NOTIFY_TRANSPORT_ENV]: this.forced } : {}),
    };
  }

  /** This generation serves. Throws if READY=1 cannot be sent (the caller makes it fatal). */
  ready(status: string): void {
    if (!this.main) return; // a successor stays silent until it is main (R4.5)
    this.notifier.send({ READY: 1, STATUS: status });
    this.startWatchdog();
  }

  /** The parent handed over: we are the main PID now. */
  becameMain(status: string): void {
    if (this.main) return;
    this.main = true;
    this.trySend({ STATUS: status });
    this.startWatchdog();
  }

  handoffStarting(status: string): void {
    this.trySend({ RELOADING: 1, MONOTONIC_USEC: process.hrtime.bigint() / 1000n, STATUS: status });
  }

  /** The successor is ready: pass the main PID on, in one datagram (R4.5). */
  handedOver(newPid: number, status: string): void {
    this.watchdog?.stop();
    this.trySend({ MAINPID: newPid, READY: 1, STATUS: status });
    this.main = false;
  }

  rolledBack(status: string): void {
    this.trySend({ READY: 1, STATUS: status });
  }

  stopping(status: string): void {
    this.watchdog?.stop();
    if (this.main) this.trySend({ STOPPING: 1, STATUS: status });
  }

  private startWatchdog(): void {
    if (this.watchdogUsec === undefined || this.watchdog) return;
    this.watchdog = new Watchdog(this.watchdogUsec, this.hooks.healthCheck, () => this.notifier.send({ WATCHDOG: 1 }), this.hooks.log);
    this.watchdog.start();
  }

  private trySend(fields: Record<string, string | number | bigint>): void {
    try {
      this.notifier.send(fields);
    } catch (err) {
      this.hooks.log(`cannot notify systemd: ${(err as Error).message}`);
    }
  }
}

export { requestCheck, type CheckTarget, type HealthCheck };
