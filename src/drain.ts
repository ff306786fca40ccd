/**
 * Graceful drain: stop accepting, let in-flight work finish, close what is idle without
 * racing a client, and close everything left at the deadline.
 *
 * Why the keep-alive case needs care. A client such as Node's `http.Agent` keeps idle
 * connections and may pick one for its next request at any moment. If the server closes
 * an idle connection while such a request is on its way, the client gets ECONNRESET, and
 * the Agent does not retry. So during drain:
 *  - The listening socket closes (the next generation accepts on the shared one), but
 *    open connections stay: `http.Server#close()` is not used, because since Node 19 it
 *    closes idle connections at once.
 *  - Every response from now on, including ones already in flight whose headers are not
 *    sent yet, carries `Connection: close`; Node closes the connection after it. A
 *    request that raced towards an idle connection is therefore served, not reset.
 *  - An idle connection is closed only by the keep-alive timeout the server announced in
 *    `Keep-Alive: timeout=N`. The Agent stops reusing a connection one second before that
 *    hint (lib/_http_agent.js), so no request can be racing towards it by then. Node's
 *    own keep-alive timer does this; drain just does not cut it short.
 *  - HTTP/2 sessions get GOAWAY (`session.close()`): open streams finish, no new ones start.
 *    A stream the client sent while the GOAWAY was on its way is refused (RST_STREAM
 *    REFUSED_STREAM, ID above the GOAWAY's last stream ID): never processed, so safe to
 *    retry on a new connection (RFC 9113 §6.8, §8.7); browsers and curl do, Node's
 *    http2 client leaves it to the app. A shutdown notice first (GOAWAY with the maximum
 *    stream ID, then a PING round trip; RFC 9113 §6.8) would close that window, but
 *    nghttp2 sends one only from nghttp2_submit_shutdown_notice(), which Node does not
 *    expose (nodejs/node#34265, open since 2020). `session.goaway(code, 2**31 - 1)` is
 *    a plain GOAWAY to nghttp2, after which it ignores new streams: tried, it refused
 *    as many streams as a plain close. Writing the notice frame onto the TLS socket
 *    ourselves aborts the process (Node 20.20: "Assertion failed: !current_write_" in
 *    TLSWrap::DoWrite, as the session's own write may be in progress): tried, never
 *    shipped.
 *  - At the drain deadline every remaining connection is destroyed.
 *
 * A generation's whole drain phase (drainGeneration) runs the app's drain hooks, drains
 * every server and lets its workers drain beside it, under one deadline. A stop first
 * waits `--stop-delay`, accepting and serving as before while the readiness probe fails
 * (health.ts): under Kubernetes, Services and ingress keep routing new connections to a
 * terminating pod for a few seconds, which would be refused if it stopped accepting at
 * once (the preStop-sleep pattern of godaddy/terminus and gajus/lightship, built in).
 * After the delay the listener closes only once no connection arrived for
 * STOP_QUIET_MS (at most STOP_QUIET_MAX_MS more): closing a listening socket resets the
 * connections still in its accept queue, and the last ones a load balancer sent before
 * it stopped routing here would otherwise be lost to that race.
 *
 * Must not: know about processes, pidfiles or signals.
 */
import type * as net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import type * as http from 'node:http';
import type * as http2 from 'node:http2';
import { closeWithoutUnlink, handleFd } from './listeners.js';
import { Connections } from './connections.js';
import { STOP_QUIET_MAX_MS, STOP_QUIET_MS } from './defaults.js';

interface Tracked {
  server: net.Server;
  /** Open connections: for TLS servers the transports ('connection'), which close with them. */
  sockets: Connections;
  /**
   * A TLS server's TLS sockets ('secureConnection'), the ones its HTTP responses are
   * written on; for a plain server `sockets` holds those already.
   */
  tlsSockets: Connections | undefined;
  sessions: Set<http2.Http2Session>;
  draining: boolean;
  /** When the last connection was accepted (epoch ms). */
  lastConnectionAt: number;
}

const tracked = new WeakMap<net.Server, Tracked>();

function isHttp2(server: net.Server): boolean {
  // http2 servers emit 'session'; their class is not exported for instanceof.
  return server.constructor?.name === 'Http2Server' || server.constructor?.name === 'Http2SecureServer';
}

/** A TLS server (https): tls.Server has addContext(); checked by shape, as http2 above. */
function isTls(server: net.Server): boolean {
  return typeof (server as net.Server & { addContext?: unknown }).addContext === 'function';
}

/**
 * Start tracking a server's connections. Must run before the server accepts anything.
 *
 * What it costs: an array push and one shared 'close' listener per connection
 * (connections.ts says why not a Set), and nothing per request until the drain begins
 * (bench/instructions.mjs counts it against a plain server: a request listener and two
 * closures per connection had cost 2-3 % of a hello-world request).
 */
export function track(server: net.Server): void {
  if (tracked.has(server)) return;
  const tls = isTls(server) && !isHttp2(server);
  const t: Tracked = { server, sockets: new Connections(), tlsSockets: tls ? new Connections() : undefined, sessions: new Set(), draining: false, lastConnectionAt: 0 };
  tracked.set(server, t);
  // TLS servers emit 'secureConnection' with the TLS socket; the raw 'connection' is
  // its transport, and closes with it, so counting 'connection' is right for all kinds.
  server.on('connection', (socket: net.Socket) => {
    t.sockets.add(socket);
    t.lastConnectionAt = Date.now();
  });
  if (isHttp2(server)) {
    server.on('session', (session: http2.Http2Session) => {
      t.sessions.add(session);
      session.once('close', () => t.sessions.delete(session));
      if (t.draining) session.close();
    });
    return;
  }
  const tlsSockets = t.tlsSockets;
  if (tlsSockets !== undefined) {
    server.on('secureConnection', (socket: net.Socket) => tlsSockets.add(socket));
  }
}

/**
 * From the drain on, every HTTP response whose headers are not sent yet carries
 * `Connection: close`: those in flight now (Node's http server keeps the one a
 * connection is writing on the socket as `_httpMessage`, as lib/_http_server.js sets
 * it; http-terminator reads the same), and, through a request listener that runs before
 * the app's, every one that starts later.
 */
function closeAfterResponses(t: Tracked): void {
  for (const socket of t.tlsSockets ?? t.sockets) {
    const res = (socket as net.Socket & { _httpMessage?: http.ServerResponse | null })._httpMessage;
    if (res && !res.headersSent) res.setHeader('Connection', 'close');
  }
  t.server.prependListener('request', (_req: http.IncomingMessage, res: http.ServerResponse) => {
    if (!res.headersSent) res.setHeader('Connection', 'close');
  });
}

/**
 * The fds of the open connections of `servers` (those tracked): libuv accepts each with
 * SOCK_CLOEXEC, so a handoff need not ask /proc whether they would leak into the next
 * generation (respawn.ts strayFds).
 */
export function connectionFds(servers: Iterable<net.Server>): Set<number> {
  const fds = new Set<number>();
  for (const server of servers) {
    for (const socket of tracked.get(server)?.sockets ?? []) {
      const fd = handleFd(socket);
      if (fd !== undefined && fd > 2) fds.add(fd);
    }
  }
  return fds;
}

/** Open connections of a tracked server, for status and tests. */
export function openConnections(server: net.Server): number {
  return tracked.get(server)?.sockets.size ?? 0;
}

/**
 * Drain one server. Resolves once every connection has closed, or at `deadline`
 * (epoch ms), when the rest are destroyed. `closeListener` false skips closing the
 * listening socket (it was never opened, or is closed elsewhere).
 */
export async function drain(server: net.Server, deadline: number, closeListener = true): Promise<{ forced: number }> {
  const t = tracked.get(server);
  if (closeListener && server.listening) closeWithoutUnlink(server);
  if (!t) return { forced: 0 };
  if (!t.draining && !isHttp2(server)) closeAfterResponses(t);
  t.draining = true;
  for (const session of t.sessions) session.close();
  if (t.sockets.size === 0) return { forced: 0 };
  await new Promise<void>((resolve) => {
    const check = () => {
      if (t.sockets.size === 0) {
        clearTimeout(timer);
        resolve();
      }
    };
    const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
    for (const s of t.sockets) s.once('close', () => setImmediate(check));
  });
  const forced = t.sockets.size;
  for (const session of t.sessions) session.destroy();
  for (const s of t.sockets) s.destroy();
  return { forced };
}

/** A function the app registers to run when its generation drains (stop or handoff). */
export type DrainHook = (info: { reason: 'stop' | 'handoff'; deadline: number }) => void | Promise<void>;

/** What one generation drains. */
export interface DrainPhase {
  reason: 'stop' | 'handoff';
  /** Its servers; a server whose listener is not open is drained without closing it. */
  servers: net.Server[];
  hooks: Iterable<DrainHook>;
  /** Its workers (workers.ts), drained beside it under the same deadline. */
  workers?: { drain(deadline: number): Promise<void> } | undefined;
  drainTimeoutMs: number;
  /** `--stop-delay`: a stop keeps serving this long first. Not applied to a handoff. */
  stopDelayMs: number;
  /** Called when the stop delay is over and the drain begins. */
  onDrainStart?: () => void;
  log: (message: string) => void;
}

/**
 * Drain a generation: the stop delay (stops only), then the hooks, the servers and the
 * workers together, bounded by `--drain-timeout`. Resolves when all are done or the
 * deadline passed; the caller exits.
 */
export async function drainGeneration(p: DrainPhase): Promise<void> {
  if (p.reason === 'stop' && p.stopDelayMs > 0) {
    p.log(`--stop-delay ${p.stopDelayMs / 1000} s: still accepting and serving, /readyz answers 503; draining after that`);
    // A ref'd timer: nothing else may need to hold the process for the delay to run out.
    await delay(p.stopDelayMs);
    await quiet(p.servers);
  }
  p.onDrainStart?.();
  const deadline = Date.now() + p.drainTimeoutMs;
  // A ref'd timer holds the process until the deadline, so a drain hook that is still
  // working keeps it alive even when nothing else does; hooks get no longer than that.
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<'expired'>((resolve) => (timer = setTimeout(() => resolve('expired'), p.drainTimeoutMs)));
  const hooks = Promise.all(
    [...p.hooks].map(async (hook) => {
      try {
        await hook({ reason: p.reason, deadline });
      } catch (err) {
        p.log(`drain hook failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }),
  );
  const servers = Promise.all(p.servers.map((server) => drain(server, deadline, server.listening)));
  const [results, hooksDone] = await Promise.all([servers, Promise.race([hooks.then(() => 'done' as const), expired]), p.workers?.drain(deadline)]);
  clearTimeout(timer);
  const forced = results.reduce((n, r) => n + r.forced, 0);
  if (forced > 0) p.log(`--drain-timeout ${p.drainTimeoutMs / 1000} s reached: closed ${forced} connections`);
  if (hooksDone === 'expired') p.log(`--drain-timeout ${p.drainTimeoutMs / 1000} s reached: drain hooks still running were abandoned`);
}

/** Resolve once none of `servers` accepted a connection for STOP_QUIET_MS, or after STOP_QUIET_MAX_MS. */
async function quiet(servers: net.Server[]): Promise<void> {
  const until = Date.now() + STOP_QUIET_MAX_MS;
  for (;;) {
    const last = Math.max(0, ...servers.map((s) => tracked.get(s)?.lastConnectionAt ?? 0));
    const wait = Math.min(last + STOP_QUIET_MS, until) - Date.now();
    if (wait <= 0) return;
    await delay(wait);
  }
}
