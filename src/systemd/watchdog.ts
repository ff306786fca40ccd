/**
 * The systemd watchdog (contracts R4.6), with a ping that means something: `WATCHDOG=1`
 * goes out every `WATCHDOG_USEC/2` only after a real self-check has passed within that
 * interval. The default check makes an HTTP request to the daemon's own first listener
 * and needs an answer (any status); an app replaces it with `daemon.onHealthCheck(fn)`.
 * A wedged event loop runs no timer and a stuck server answers nothing, so either way
 * the pings stop and systemd kills and (with `Restart=`) restarts the service.
 *
 * Must not: know about generations or handoffs (daemon.ts starts and stops the pinger).
 */
import * as net from 'node:net';
import * as tls from 'node:tls';

/** Private copy of the interval for the next generation: WATCHDOG_* are stripped from children (R1.6). */
export const WATCHDOG_ENV = 'FORKOVER_WATCHDOG_USEC';

/**
 * The watchdog interval in µs if it is meant for us, else undefined: enabled iff
 * `WATCHDOG_USEC` is set and `WATCHDOG_PID` is unset or our PID (sd_watchdog_enabled).
 * A successor finds the interval in FORKOVER_WATCHDOG_USEC instead. Removes all three.
 */
export function watchdogFromEnv(env: NodeJS.ProcessEnv, pid: number = process.pid): number | undefined {
  const usec = env.WATCHDOG_USEC;
  const wpid = env.WATCHDOG_PID;
  const inherited = env[WATCHDOG_ENV];
  delete env.WATCHDOG_USEC;
  delete env.WATCHDOG_PID;
  delete env[WATCHDOG_ENV];
  const parse = (s: string | undefined): number | undefined => {
    if (s === undefined || !/^\d+$/.test(s)) return undefined;
    const n = Number(s);
    return n > 0 && Number.isSafeInteger(n) ? n : undefined;
  };
  if (usec !== undefined) {
    if (wpid !== undefined && wpid !== String(pid)) return undefined;
    return parse(usec);
  }
  return parse(inherited);
}

/** A self-check: resolves when the daemon is healthy, rejects (or never settles) when not. */
export type HealthCheck = (signal: AbortSignal) => Promise<void> | void;

/** Where the default check sends its request; `tls` for an https/http2 (tls.Server) listener. */
export type CheckTarget = ({ host: string; port: number } | { path: string }) & { tls?: boolean };

/**
 * The default self-check: one `HEAD /` over a fresh connection to our own listener;
 * any bytes back within the deadline count as an answer (any status: the server is
 * answering). A TCP connect alone would not do: the kernel completes TCP handshakes for
 * a process whose event loop is stuck. For a TLS listener a completed TLS handshake is
 * the answer: Node runs it on the event loop, and a plain-text request would just be
 * dropped by the server (the certificate is not checked: we are talking to ourselves
 * over loopback, to learn whether we answer, not who we are). A server that does not
 * answer an HTTP request (its own protocol, where the client must speak in its terms)
 * should register its own check with `daemon.onHealthCheck()`.
 */
export function requestCheck(target: CheckTarget): HealthCheck {
  return (signal) =>
    new Promise<void>((resolve, reject) => {
      const where = 'path' in target ? { path: target.path } : { host: target.host, port: target.port };
      const socket = target.tls ? tls.connect({ ...where, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }) : net.connect(where);
      let settled = false;
      const done = (err?: Error) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        socket.destroy();
        if (err) reject(err);
        else resolve();
      };
      const onAbort = () => done(new Error('no answer in time'));
      signal.addEventListener('abort', onAbort, { once: true });
      if (target.tls) socket.once('secureConnect', () => done());
      else socket.once('connect', () => socket.write('HEAD / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: forkover-watchdog\r\nConnection: close\r\n\r\n'));
      socket.once('data', () => done());
      socket.once('error', (err) => done(err));
      socket.once('close', () => done(new Error('closed without an answer')));
    });
}

/** How to reach a listening server from this host (wildcard addresses via loopback). */
export function targetFor(server: net.Server | undefined): CheckTarget | undefined {
  const addr = server?.address() ?? null;
  if (addr === null) return undefined;
  const secure = server instanceof tls.Server ? { tls: true } : {};
  if (typeof addr === 'string') return { path: addr.startsWith('@') ? `\0${addr.slice(1)}` : addr, ...secure };
  const host = addr.address === '::' ? '::1' : addr.address === '0.0.0.0' ? '127.0.0.1' : addr.address;
  return { host, port: addr.port, ...secure };
}

/**
 * Pings while the check passes. `start()` is idempotent; `stop()` is final for this
 * generation's pinger. Timers are unref'd: the watchdog never keeps a process alive.
 */
export class Watchdog {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private failing = false;
  readonly periodMs: number;

  constructor(
    readonly usec: number,
    private readonly check: () => HealthCheck,
    private readonly ping: () => void,
    private readonly report: (line: string) => void,
  ) {
    // Half the interval (sd_watchdog_enabled(3)), and never below 1 ms.
    this.periodMs = Math.max(1, Math.floor(usec / 2000));
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    void this.tick();
  }

  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
  }

  private async tick(): Promise<void> {
    if (!this.running) return;
    const started = Date.now();
    const ac = new AbortController();
    const deadline = setTimeout(() => ac.abort(), this.periodMs);
    deadline.unref();
    let ok = false;
    let why = '';
    try {
      await Promise.race([
        Promise.resolve(this.check()(ac.signal)),
        new Promise<never>((_, reject) => ac.signal.addEventListener('abort', () => reject(new Error(`no answer within ${this.periodMs} ms`)), { once: true })),
      ]);
      ok = true;
    } catch (err) {
      why = (err as Error).message;
    } finally {
      clearTimeout(deadline);
    }
    if (!this.running) return;
    if (ok) {
      try {
        this.ping();
        if (this.failing) this.report('watchdog: self-check passes again; pinging');
        this.failing = false;
      } catch (err) {
        this.report(`watchdog: cannot ping: ${(err as Error).message}`);
      }
    } else if (!this.failing) {
      this.failing = true;
      this.report(`watchdog: self-check failed (${why}); not pinging, so systemd will restart the service unless it recovers`);
    }
    const wait = Math.max(0, this.periodMs - (Date.now() - started));
    this.timer = setTimeout(() => void this.tick(), wait);
    this.timer.unref();
  }
}
