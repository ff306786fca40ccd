/**
 * sd_notify(3) for Node: send `KEY=VALUE` lines to the service manager over
 * `$NOTIFY_SOCKET` (contracts §4).
 *
 * Node core has no AF_UNIX datagram sockets (R4.7, R9.8), so the datagram leaves through
 * one of two transports, chosen once at start-up:
 *  - `native` (preferred): forkover's own addon (native/notify.c, built by `npm install`)
 *    calls sendto() from this very process, so the kernel stamps the datagram with our
 *    PID. systemd's default `NotifyAccess=main` therefore hears us whatever `User=` the
 *    service runs as, and both `/path` and `@abstract` sockets work, the abstract one
 *    with the exact address length R4.2 demands.
 *  - `systemd-notify`: exec `/usr/bin/systemd-notify KEY=VALUE…` (no shell). As root it
 *    speaks for its parent (us); under `User=` the kernel refuses that and the datagram
 *    carries systemd-notify's own PID, which `NotifyAccess=main` drops: such a unit would
 *    need `NotifyAccess=all`. Used only when the addon is missing.
 * With `$NOTIFY_SOCKET` set and neither transport usable, `openNotifier()` throws: a
 * notify service that cannot notify must fail at start, loudly (R4.7 c).
 *
 * `FORKOVER_NOTIFY_TRANSPORT=native|systemd-notify` forces one (tests, diagnosis).
 *
 * Must not: know forkover's state (daemon.ts decides what to say and when).
 */
import * as fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import { ForkoverError } from '../errors.js';
import { loadAddon } from '../native.js';

export type NotifyTransportName = 'native' | 'systemd-notify';

/** The variable that forces a transport; forkover passes it on to every generation. */
export const NOTIFY_TRANSPORT_ENV = 'FORKOVER_NOTIFY_TRANSPORT';

/** Where the systemd-notify fallback is looked for. */
export const SYSTEMD_NOTIFY = '/usr/bin/systemd-notify';

interface NativeNotify {
  send(address: string, payload: string): void;
}

let nativeCache: { mod?: NativeNotify; file?: string; error?: string } | undefined;

/** Load the addon once (src/native.ts: prebuilt, then a local build); its absence is remembered with the reasons. */
export function loadNative(): { mod?: NativeNotify; file?: string; error?: string } {
  if (nativeCache) return nativeCache;
  const r = loadAddon<NativeNotify>('forkover_notify');
  nativeCache = 'error' in r ? { error: `the native transport could not be loaded (${r.error})` } : r;
  return nativeCache;
}

/**
 * Turn fields into the datagram's payload: one `KEY=VALUE` per line. Values may not
 * contain a newline (STATUS= is single-line UTF-8, R4.3), so they are flattened.
 */
export function formatMessage(fields: Record<string, string | number | bigint>): string {
  const lines: string[] = [];
  for (const [key, value] of Object.entries(fields)) {
    if (!/^[A-Z_][A-Z0-9_]*$/.test(key)) throw new TypeError(`sd_notify keys are upper-case words like READY, not ${JSON.stringify(key)}`);
    lines.push(`${key}=${String(value).replace(/[\r\n]+/g, ' ')}`);
  }
  return lines.join('\n');
}

/** A channel to the service manager, bound to one `$NOTIFY_SOCKET`. */
export interface Notifier {
  readonly socket: string;
  readonly transport: NotifyTransportName;
  /** The native addon's file, as loaded (src/native.ts: prebuilt or local build). */
  readonly file?: string;
  /** Send one datagram. Throws a ForkoverError if it could not be sent. */
  send(fields: Record<string, string | number | bigint>): void;
}

function checkAddress(socket: string): void {
  if (!(socket.startsWith('/') || (socket.startsWith('@') && socket.length > 1))) {
    throw new ForkoverError('UNSUPPORTED_PLATFORM', `NOTIFY_SOCKET is ${JSON.stringify(socket)}: expected an absolute path or @name (R4.2); unset it or fix the service manager's configuration`);
  }
  if (Buffer.byteLength(socket) >= 108) {
    throw new ForkoverError('UNSUPPORTED_PLATFORM', `NOTIFY_SOCKET ${socket} is longer than a unix socket address can be (107 bytes)`);
  }
}

function nativeNotifier(socket: string, mod: NativeNotify, file: string | undefined): Notifier {
  return {
    socket,
    transport: 'native',
    ...(file !== undefined ? { file } : {}),
    send(fields) {
      try {
        mod.send(socket, formatMessage(fields));
      } catch (err) {
        throw new ForkoverError('UNSUPPORTED_PLATFORM', `cannot notify the service manager at ${socket}: ${(err as Error).message}`, { path: socket }, { cause: err });
      }
    },
  };
}

function execNotifier(socket: string, program: string): Notifier {
  return {
    socket,
    transport: 'systemd-notify',
    send(fields) {
      const payload = formatMessage(fields);
      const r = spawnSync(program, payload.split('\n'), {
        env: { NOTIFY_SOCKET: socket, PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
        stdio: ['ignore', 'ignore', 'pipe'],
        timeout: 5_000,
        encoding: 'utf8',
      });
      if (r.error || r.status !== 0) {
        const why = r.error ? r.error.message : r.signal ? `killed by ${r.signal}` : `exit ${r.status}: ${(r.stderr ?? '').trim()}`;
        throw new ForkoverError('UNSUPPORTED_PLATFORM', `cannot notify the service manager at ${socket} through ${program}: ${why}`, { path: socket });
      }
    },
  };
}

/**
 * The notifier for `env.NOTIFY_SOCKET`, or undefined when it is unset (not supervised:
 * go-systemd's "not supported", which is no error). Throws a ForkoverError naming the
 * fix when the variable is set but no transport can be used (R4.7 c).
 */
export function openNotifier(env: NodeJS.ProcessEnv = process.env, options: { systemdNotify?: string } = {}): Notifier | undefined {
  const socket = env.NOTIFY_SOCKET;
  if (socket === undefined || socket === '') return undefined;
  checkAddress(socket);
  const forced = env[NOTIFY_TRANSPORT_ENV];
  if (forced !== undefined && forced !== 'native' && forced !== 'systemd-notify') {
    throw new ForkoverError('BAD_OPTION', `${NOTIFY_TRANSPORT_ENV} is ${JSON.stringify(forced)}; use "native" or "systemd-notify", or unset it`);
  }
  const program = options.systemdNotify ?? SYSTEMD_NOTIFY;
  const reasons: string[] = [];
  if (forced !== 'systemd-notify') {
    const native = loadNative();
    if (native.mod) return nativeNotifier(socket, native.mod, native.file);
    reasons.push(native.error!);
  }
  if (forced !== 'native') {
    try {
      fs.accessSync(program, fs.constants.X_OK);
      return execNotifier(socket, program);
    } catch {
      reasons.push(`${program} is not there or not executable (Debian package "systemd")`);
    }
  }
  throw new ForkoverError(
    'UNSUPPORTED_PLATFORM',
    `NOTIFY_SOCKET is set (${socket}), so the service manager waits for READY=1, but no sd_notify transport works: ${reasons.join('; ')}`,
    { path: socket },
  );
}
