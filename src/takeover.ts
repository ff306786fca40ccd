/**
 * `forkover start`'s hold on an unmodified app's servers: `net.Server#listen()` is
 * replaced, so that the app's own `app.listen(3000)` registers the server with the
 * generation (Daemon#listen) instead of binding. http, https, http2, Express, Koa,
 * Fastify and raw TCP servers all end in `net.Server.prototype.listen`.
 *
 *  - A listen() on a port other than 0, or on a unix socket path, is a listener: the
 *    first generation binds it as asked (or adopts systemd's socket for it), later ones
 *    adopt the previous generation's socket of the same address. The app still sees an
 *    ordinary listen(): its callback and the 'listening' event fire once the socket is
 *    bound or adopted, and `server.address()` answers.
 *  - Once `expected` listeners are registered the generation is ready (`--listeners`).
 *  - A listen() on such an address after ready (Fastify listens on "localhost"'s second
 *    address after a DNS lookup) is not counted, but is handed over all the same: bound
 *    then, or adopted from the previous generation's socket that waited for it
 *    (Daemon#listenLate). With --workers it binds afresh, as without forkover.
 *  - Port 0, an fd or a handle binds afresh, as without forkover: such a socket is
 *    neither handed over nor counted.
 *
 * Must not: know how a generation starts or hands over; Daemon does.
 */
import * as net from 'node:net';
import type { Daemon } from './daemon.js';
import type { ListenAddress } from './listeners.js';
import { log } from './log.js';
import { LATE_LISTEN_GRACE_MS } from './defaults.js';

type Callback = (...args: unknown[]) => void;

/**
 * What a listen() call asks for, as Node's own lib/net.js reads its arguments:
 * `(options[, cb])`, `(path[, backlog][, cb])`, `([port[, host[, backlog]]][, cb])`,
 * `(handle[, backlog][, cb])`. `undefined` means "not an address forkover takes over".
 */
export function parseListenArgs(args: unknown[]): { address: ListenAddress; callback: Callback | undefined } | undefined {
  const rest = [...args];
  const callback = typeof rest[rest.length - 1] === 'function' ? (rest.pop() as Callback) : undefined;
  const [first, second, third] = rest;
  let address: ListenAddress;
  if (first !== null && typeof first === 'object') {
    const o = first as { port?: unknown; host?: unknown; path?: unknown; backlog?: unknown; ipv6Only?: unknown; fd?: unknown; handle?: unknown; _handle?: unknown };
    if (o.fd !== undefined || o.handle !== undefined || o._handle !== undefined) return undefined;
    if (typeof o.path === 'string') address = { path: o.path };
    else address = { port: toPort(o.port), ...(typeof o.host === 'string' && o.host !== '' ? { host: o.host } : {}) };
    if (typeof o.backlog === 'number') address.backlog = o.backlog;
    if (typeof o.ipv6Only === 'boolean') address.ipv6Only = o.ipv6Only;
  } else if (typeof first === 'string' && toPort(first) === undefined) {
    address = { path: first, ...(typeof second === 'number' ? { backlog: second } : {}) };
  } else {
    address = {
      port: toPort(first),
      ...(typeof second === 'string' && second !== '' ? { host: second } : {}),
      ...(typeof third === 'number' ? { backlog: third } : {}),
    };
  }
  if (address.path === undefined && (address.port === undefined || address.port === 0)) return undefined;
  return { address, callback };
}

function describeAsked(a: ListenAddress): string {
  return a.path ?? `${a.host ?? '*'}:${a.port}`;
}

/** A port as Node accepts one (a number, or a string of digits), or undefined. */
function toPort(value: unknown): number | undefined {
  if (value === undefined || value === null || value === '') return 0;
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 65535 ? n : undefined;
}

export interface Takeover {
  /** The servers registered so far, in the order the app listened. */
  readonly servers: net.Server[];
  /** Resolves once `expected` listeners are registered and the generation is ready. */
  readonly ready: Promise<void>;
}

/**
 * Replace `net.Server.prototype.listen` for the rest of this process's life. Returns
 * what was taken over; `daemon.ready()` runs once `expected` servers listened.
 */
export function takeOverListen(daemon: Daemon, expected: number): Takeover {
  const original = net.Server.prototype.listen;
  daemon.allowLateListen(LATE_LISTEN_GRACE_MS);
  const registered = new WeakSet<net.Server>();
  const servers: net.Server[] = [];
  let readyCalled = false;
  let resolveReady!: () => void;
  const ready = new Promise<void>((resolve) => (resolveReady = resolve));
  const patched = function (this: net.Server, ...args: unknown[]): net.Server {
    // Daemon's own bind() and adopt() call listen() on a server it holds: let them through.
    if (registered.has(this)) return original.apply(this, args as Parameters<typeof original>);
    const asked = parseListenArgs(args);
    if (asked === undefined) return original.apply(this, args as Parameters<typeof original>);
    if (readyCalled) {
      // Once the generation serves (a listen() between the last counted one and then
      // waits for it): listen() is asynchronous anyway, and the app sees no difference.
      registered.add(this);
      void ready.then(() => {
        const late = daemon.listenLate(this, asked.address);
        if (late === undefined) {
          log(`a listen() on ${describeAsked(asked.address)} after ready binds afresh: that socket is not handed over at the next reload`);
          original.apply(this, args as Parameters<typeof original>);
          return;
        }
        if (asked.callback) this.once('listening', asked.callback);
        // A failed bind has emitted 'error' on the server already, as Node's listen()
        // does; anything else that failed (a unix socket path in use) is emitted here.
        let emitted = false;
        const seen = () => (emitted = true);
        this.once('error', seen);
        late.then(
          () => this.off('error', seen),
          (err: unknown) => {
            this.off('error', seen);
            log(`a listen() on ${describeAsked(asked.address)} after ready failed: ${(err as Error).message ?? String(err)}`);
            if (!emitted) this.emit('error', err);
          },
        );
      });
      return this;
    }
    registered.add(this);
    servers.push(this);
    daemon.listen(this, asked.address);
    if (asked.callback) this.once('listening', asked.callback);
    if (servers.length === expected) {
      readyCalled = true;
      // After the app's own synchronous code, as a listen() that binds at once would be.
      setImmediate(() => void daemon.ready().then(resolveReady));
    }
    return this;
  };
  net.Server.prototype.listen = patched as typeof original;
  return { servers, ready };
}
