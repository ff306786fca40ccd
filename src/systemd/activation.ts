/**
 * Socket activation (contracts §5): the listening sockets systemd passes at fds 3…,
 * described by `LISTEN_PID`, `LISTEN_FDS` and `LISTEN_FDNAMES` (sd_listen_fds(3)).
 *
 *  - R5.1: the fds are ours only if `LISTEN_PID` is our PID; any other PID (or none)
 *    means "not activated", not an error, as sd_listen_fds() treats it. A name count
 *    that differs from `LISTEN_FDS` is an error; missing names are `unknown`. All
 *    `LISTEN_*` are removed once read, so neither the app's children nor later
 *    generations can mistake them for theirs.
 *  - R5.2: every fd must be an open socket; anything else is refused with its number.
 *  - R5.3: under Type=forking the launcher is the process systemd activated; it parses
 *    here and hands the list to detach.ts, which maps the fds to the same numbers in
 *    the daemon and passes the names privately (FORKOVER_FDS).
 *
 * Matching sockets to the app's servers (`planAdoption`): by name, where the name is
 * the socket unit's `FileDescriptorName=` (default: the `.socket` unit's name) and the
 * app's `daemon.listen(server, { name })`. One convenience, decided here: when systemd
 * passed exactly one socket and the app registered exactly one server, that server
 * adopts it whatever the names, because a single-socket unit rarely sets a name and
 * nothing else could be meant. With several sockets names must match; an activated
 * socket no server claims is closed with a log line (daemon.ts), and a server no socket
 * matches binds its own address.
 *
 * Repeated names (two `ListenStream=` in one unit share its name) are made distinct in
 * order: `web.socket`, `web.socket#2`, … so every generation keeps them apart.
 *
 * Must not: adopt anything itself (listeners.ts does), or know about processes.
 */
import * as fs from 'node:fs';
import { ForkoverError } from '../errors.js';
import type { InheritedFd } from '../listeners.js';

/** The first fd systemd passes (SD_LISTEN_FDS_START). */
export const LISTEN_FDS_START = 3;

const VARS = ['LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES', 'LISTEN_PIDFDID'] as const;

/**
 * Parse and remove `LISTEN_*` from `env`. Returns the activated sockets (fds 3…), or
 * [] when this process was not activated. Throws INHERITED_INVALID on inconsistent
 * variables or an fd that is not a socket.
 */
export function listenFds(env: NodeJS.ProcessEnv = process.env, pid: number = process.pid, isSocket: (fd: number) => boolean = fdIsSocket): InheritedFd[] {
  const listenPid = env.LISTEN_PID;
  const count = env.LISTEN_FDS;
  const names = env.LISTEN_FDNAMES;
  for (const v of VARS) delete env[v];
  if (listenPid === undefined || count === undefined) return [];
  if (!/^\d+$/.test(listenPid)) {
    throw new ForkoverError('INHERITED_INVALID', `LISTEN_PID is ${JSON.stringify(listenPid)}, not a PID (socket activation, R5.1)`);
  }
  if (Number(listenPid) !== pid) return []; // meant for another process (R5.1)
  if (!/^\d+$/.test(count)) {
    throw new ForkoverError('INHERITED_INVALID', `LISTEN_FDS is ${JSON.stringify(count)}, not a number of fds (socket activation, R5.1)`);
  }
  const n = Number(count);
  if (n === 0) return [];
  let list: string[];
  if (names === undefined) list = Array.from({ length: n }, () => 'unknown');
  else {
    list = names.split(':');
    if (list.length !== n) {
      throw new ForkoverError(
        'INHERITED_INVALID',
        `LISTEN_FDNAMES names ${list.length} sockets but LISTEN_FDS says ${n} (R5.1); check the .socket unit's FileDescriptorName=`,
      );
    }
    list = list.map((s) => (s === '' ? 'unknown' : s));
  }
  const seen = new Map<string, number>();
  const out: InheritedFd[] = list.map((name, i) => {
    const k = (seen.get(name) ?? 0) + 1;
    seen.set(name, k);
    return { name: k === 1 ? name : `${name}#${k}`, fd: LISTEN_FDS_START + i };
  });
  for (const a of out) {
    if (!isSocket(a.fd)) {
      throw new ForkoverError('INHERITED_INVALID', `socket activation passed fd ${a.fd} ("${a.name}"), but it is not an open socket (R5.2); check the .socket unit`);
    }
  }
  return out;
}

function fdIsSocket(fd: number): boolean {
  try {
    return fs.fstatSync(fd).isSocket();
  } catch {
    return false;
  }
}

/**
 * Rename activated sockets to the app's listener names where the single-socket rule
 * applies (see the header); otherwise return them unchanged for name matching.
 */
export function planAdoption(activated: InheritedFd[], listenerNames: string[]): InheritedFd[] {
  if (activated.length === 1 && listenerNames.length === 1 && activated[0]!.name !== listenerNames[0]) {
    return [{ name: listenerNames[0]!, fd: activated[0]!.fd }];
  }
  // A socket systemd passed that no listener claims is a misconfiguration, not a version
  // change (that is what unmatched names mean in a handoff): the app would bind a socket
  // of its own beside it, or fail on the port systemd holds. Say so (issue 5 item 5).
  const unclaimed = activated.filter((a) => !listenerNames.includes(a.name));
  if (unclaimed.length > 0) {
    throw new ForkoverError(
      'INHERITED_INVALID',
      `systemd passed socket${unclaimed.length > 1 ? 's' : ''} ${unclaimed.map((u) => `"${u.name}" (fd ${u.fd})`).join(', ')}, but this app registers no listener of that name (it registers ${listenerNames.map((n) => `"${n}"`).join(', ') || 'none'}); set FileDescriptorName= in the .socket unit to a listener's name, or give daemon.listen() that name`,
    );
  }
  return activated;
}
