/**
 * The listener registry: which sockets this generation was handed (inherited), which the
 * app asked for (used), and how each `net.Server` gets its socket: adopted from an
 * inherited fd, or bound afresh.
 *
 * Listeners are matched by name, never by position, so a new version that adds or
 * reorders its servers still gets the right sockets. A listener's default name is its
 * address as the app wrote it ("8080", "127.0.0.1:8080", "/run/app.sock"), which stays
 * the same across generations as long as the configuration does; a changed address gets
 * a fresh socket and the old one is closed once the new generation is ready.
 *
 * The only file allowed to touch Node internals (`server._handle`).
 *
 * Must not: know about processes or upgrades.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { ForkoverError } from './errors.js';

/** Where a server listens: a TCP port (and host), or a unix-domain socket path. */
export interface ListenAddress {
  /** TCP port; 0 picks a free one. */
  port?: number;
  /** TCP host; default: all interfaces (IPv6 and IPv4 where the system allows). */
  host?: string;
  /** Unix-domain socket path, or `\0name` for an abstract socket. */
  path?: string;
  /** The name that matches this listener to the one a previous generation hands over. */
  name?: string;
  backlog?: number;
  ipv6Only?: boolean;
}

export interface UsedListener {
  name: string;
  server: net.Server;
  address: ListenAddress;
  /** Set once the server listens. */
  fd?: number;
  /** Human-readable bound address, once listening. */
  bound?: string;
  inherited: boolean;
}

export interface InheritedFd {
  name: string;
  fd: number;
}

/** The default name of a listener: its address as the app wrote it. */
export function defaultName(address: ListenAddress): string {
  if (address.path !== undefined) return address.path.replace(/\0/g, '@');
  if (address.host !== undefined) return `${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port ?? 0}`;
  return String(address.port ?? 0);
}

/**
 * The fd under a server or a socket, or undefined once it is closed. Node internals:
 * net.Server and net.Socket keep their libuv handle in `_handle`, whose `fd` is the
 * socket on Unix (lib/net.js). There is no public accessor.
 */
export function handleFd(s: net.Server | net.Socket): number | undefined {
  const handle = (s as unknown as { _handle?: { fd?: number } | null })._handle;
  return handle && typeof handle.fd === 'number' && handle.fd >= 0 ? handle.fd : undefined;
}

/** The fd of a listening server. */
export function serverFd(server: net.Server): number {
  const fd = handleFd(server);
  if (fd === undefined) {
    throw new ForkoverError('LISTEN_FAILED', 'server is not listening on a file descriptor forkover can hand over');
  }
  return fd;
}

/** Describe where a listening server is bound. */
export function describeBound(server: net.Server, address: ListenAddress): string {
  if (address.path !== undefined) return address.path.replace(/\0/g, '@');
  const a = server.address();
  if (a === null) return '?';
  if (typeof a === 'string') return a;
  return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

function listenOnce(server: net.Server, arg: net.ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => {
      server.off('listening', onListening);
      reject(err);
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(arg);
  });
}

/**
 * Adopt an inherited listening socket. Checks the fd first, because `listen({fd})` on a
 * closed or non-socket fd gives an unhelpful EINVAL, or worse serves on the wrong thing.
 */
export async function adopt(server: net.Server, inherited: InheritedFd, backlog?: number): Promise<void> {
  let st: fs.Stats;
  try {
    st = fs.fstatSync(inherited.fd);
  } catch (err) {
    throw new ForkoverError('INHERITED_INVALID', `inherited listener "${inherited.name}" should be fd ${inherited.fd}, but that fd is not open`, {}, { cause: err });
  }
  if (!st.isSocket()) {
    throw new ForkoverError('INHERITED_INVALID', `inherited listener "${inherited.name}" on fd ${inherited.fd} is not a socket`);
  }
  try {
    await listenOnce(server, { fd: inherited.fd, ...(backlog !== undefined ? { backlog } : {}) } as net.ListenOptions);
  } catch (err) {
    throw new ForkoverError('INHERITED_INVALID', `cannot adopt inherited listener "${inherited.name}" on fd ${inherited.fd}: ${(err as Error).message}`, {}, { cause: err });
  }
}

/** Connect to a unix socket path: true if something answers there. */
function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(socketPath);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

/**
 * Bind a listener afresh.
 *
 * A unix socket is bound under a temporary name and renamed into place. libuv unlinks the
 * path a pipe server was bound to when that server closes; binding under a temporary
 * name means the old generation's close unlinks nothing while its successor serves the
 * real path. The rename also replaces a socket file left by a killed daemon atomically,
 * but only after a connect has shown that nothing answers on it.
 */
export async function bind(server: net.Server, address: ListenAddress): Promise<void> {
  const backlog = address.backlog !== undefined ? { backlog: address.backlog } : {};
  if (address.path === undefined) {
    try {
      await listenOnce(server, {
        port: address.port ?? 0,
        ...(address.host !== undefined ? { host: address.host } : {}),
        ...(address.ipv6Only !== undefined ? { ipv6Only: address.ipv6Only } : {}),
        ...backlog,
      });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const where = `${address.host ?? 'all interfaces'} port ${address.port ?? 0}`;
      const fix =
        e.code === 'EADDRINUSE'
          ? `port ${address.port} is already in use on ${address.host ?? 'all interfaces'}; stop whatever listens there or choose another port`
          : e.code === 'EACCES'
            ? `binding ${where} needs privilege; start as root (and use --user) or choose a port above 1023`
            : `cannot listen on ${where}: ${e.message}`;
      throw new ForkoverError('LISTEN_FAILED', fix, {}, { cause: err });
    }
    return;
  }
  const target = address.path;
  if (target.startsWith('\0')) {
    await listenOnce(server, { path: target, ...backlog }).catch((err: Error) => {
      throw new ForkoverError('LISTEN_FAILED', `cannot listen on abstract socket ${defaultName(address)}: ${err.message}`, { path: target }, { cause: err });
    });
    return;
  }
  let existing: fs.Stats | undefined;
  try {
    existing = fs.lstatSync(target);
  } catch {
    existing = undefined;
  }
  if (existing) {
    if (!existing.isSocket()) {
      throw new ForkoverError('LISTEN_FAILED', `${target} exists and is not a socket; remove it or choose another path`, { path: target });
    }
    if (await answers(target)) {
      throw new ForkoverError('LISTEN_FAILED', `something already answers on ${target}; stop it or choose another path`, { path: target });
    }
  }
  const tmp = path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.tmp`);
  fs.rmSync(tmp, { force: true });
  try {
    await listenOnce(server, { path: tmp, ...backlog });
    fs.renameSync(tmp, target);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    if (server.listening) closeWithoutUnlink(server);
    throw new ForkoverError('LISTEN_FAILED', `cannot listen on ${target}: ${(err as Error).message}`, { path: target }, { cause: err });
  }
}

/**
 * Stop accepting. Unlike `http.Server#close()`, this leaves open connections alone
 * (Node ≥ 19's close also drops idle keep-alive connections, which resets requests a
 * client is sending on them at that moment: drain.ts closes them safely instead).
 * It unlinks no socket path, because bind() bound every path under a temporary name.
 */
export function closeWithoutUnlink(server: net.Server): void {
  net.Server.prototype.close.call(server);
}

/**
 * Parse the listeners a previous generation handed over: fds `first…first+n-1`, named
 * by a JSON array (contracts R5.1 layout, private names). Throws INHERITED_INVALID on
 * anything that does not add up, so a generation never serves on the wrong socket.
 */
export function parseInherited(namesJson: string | undefined, first: number): InheritedFd[] {
  if (namesJson === undefined || namesJson === '') return [];
  let names: unknown;
  try {
    names = JSON.parse(namesJson);
  } catch {
    throw new ForkoverError('INHERITED_INVALID', `inherited listener names are not valid JSON: ${namesJson.slice(0, 80)}`);
  }
  if (!Array.isArray(names) || !names.every((n) => typeof n === 'string' && n !== '')) {
    throw new ForkoverError('INHERITED_INVALID', 'inherited listener names must be a list of non-empty strings');
  }
  if (new Set(names).size !== names.length) {
    throw new ForkoverError('INHERITED_INVALID', `inherited listener names repeat: ${names.join(', ')}`);
  }
  return (names as string[]).map((name, i) => ({ name, fd: first + i }));
}
