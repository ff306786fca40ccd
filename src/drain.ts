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
 * Must not: know about processes, pidfiles or signals.
 */
import type * as net from 'node:net';
import type * as http from 'node:http';
import type * as http2 from 'node:http2';
import { closeWithoutUnlink } from './listeners.js';

interface Tracked {
  server: net.Server;
  sockets: Set<net.Socket>;
  sessions: Set<http2.Http2Session>;
  pending: Set<http.ServerResponse>;
  draining: boolean;
}

const tracked = new WeakMap<net.Server, Tracked>();

function isHttp2(server: net.Server): boolean {
  // http2 servers emit 'session'; their class is not exported for instanceof.
  return server.constructor?.name === 'Http2Server' || server.constructor?.name === 'Http2SecureServer';
}

/**
 * Start tracking a server's connections. Must run before the server accepts anything,
 * and its request listener runs before the app's.
 */
export function track(server: net.Server): void {
  if (tracked.has(server)) return;
  const t: Tracked = { server, sockets: new Set(), sessions: new Set(), pending: new Set(), draining: false };
  tracked.set(server, t);
  // TLS servers emit 'secureConnection' with the TLS socket; the raw 'connection' is
  // its transport, and closes with it, so counting 'connection' is right for all kinds.
  server.on('connection', (socket: net.Socket) => {
    t.sockets.add(socket);
    socket.once('close', () => t.sockets.delete(socket));
  });
  if (isHttp2(server)) {
    server.on('session', (session: http2.Http2Session) => {
      t.sessions.add(session);
      session.once('close', () => t.sessions.delete(session));
      if (t.draining) session.close();
    });
    return;
  }
  server.prependListener('request', (_req: http.IncomingMessage, res: http.ServerResponse) => {
    if (t.draining) {
      if (!res.headersSent) res.setHeader('Connection', 'close');
      return;
    }
    t.pending.add(res);
    res.once('close', () => t.pending.delete(res));
  });
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
  t.draining = true;
  for (const res of t.pending) {
    if (!res.headersSent) res.setHeader('Connection', 'close');
  }
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
