/**
 * Privilege drop for `--user U [--group G]` (contracts R1.10, R9.4, R10.4).
 *
 * A daemon started as root binds its listeners (port 80, a socket in /run) and then
 * becomes U in-process, in the order initgroups → setgid → setuid: once the uid is gone
 * nothing else could be changed. `spawn({uid, gid})` is no substitute, because libuv calls
 * setgroups(0) there and the user's supplementary groups would be lost (R9.4).
 *
 * Later generations are spawned by a parent that already runs as U and inherit the bound
 * sockets, so they need no privilege; for them the drop is a check that they are U.
 * What they must still be able to do (reopen the log by path, rewrite the pidfile and
 * its sidecar by temp file and rename) is set up by the launcher and by the first
 * generation while they are root: `prepareAsRoot()` and the chown in `dropPrivileges()`.
 *
 * Must not: know about sockets, signals or the pidfile's format.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { ForkoverError } from './errors.js';

/** Who `--user`/`--group` name, as numbers. */
export interface Account {
  user: string;
  uid: number;
  gid: number;
}

/**
 * Directories shared by many services: the launcher refuses to give one of them to the
 * daemon's user (R10.2). A pidfile under `--user` belongs in a directory of its own.
 */
const SHARED_DIRS = new Set(['/', '/run', '/var/run', '/var', '/var/log', '/var/lib', '/tmp', '/var/tmp', '/etc', '/usr', '/home', '/root', '/dev', '/dev/shm', '/srv', '/opt']);

function idOf(args: string[], what: string, flag: string): number {
  try {
    const out = execFileSync('id', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    if (/^\d+$/.test(out)) return Number(out);
  } catch {
    // below
  }
  throw new ForkoverError('BAD_OPTION', `${flag} ${what}: no such user on this system; create it or name another`, { flag });
}

function groupId(group: string): number {
  if (/^\d+$/.test(group)) return Number(group);
  let text = '';
  try {
    // getent asks NSS (LDAP, sssd …), as setgid's own lookup would.
    text = execFileSync('getent', ['group', group], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    try {
      text = fs.readFileSync('/etc/group', 'utf8');
    } catch {
      text = '';
    }
  }
  for (const line of text.split('\n')) {
    const [name, , gid] = line.split(':');
    if (name === group && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  throw new ForkoverError('BAD_OPTION', `--group ${group}: no such group on this system; create it or name another`, { flag: '--group' });
}

/** Resolve `--user`/`--group` to ids. Throws BAD_OPTION naming the flag when one does not exist. */
export function resolveAccount(user: string, group?: string): Account {
  const uid = /^\d+$/.test(user) ? Number(user) : idOf(['-u', user], user, '--user');
  const gid = group !== undefined ? groupId(group) : idOf(['-g', user], user, '--user');
  return { user, uid, gid };
}

/**
 * The launcher's part, as root, before the daemon starts (R10.4): give the pidfile's
 * directory to the user, so later generations, which run as the user, can write their
 * temp files there and rename them over the pidfile, and give it the log file, which
 * they reopen by path. A shared directory (/run, /tmp …) is never given away: the error
 * names the fix, a directory of the daemon's own.
 */
export function prepareAsRoot(account: Account, pidfile: string, logFd: number | undefined, logfile?: string): void {
  const dir = path.dirname(pidfile);
  // Checked before anything changes hands, so a refusal leaves ownership as it was. The
  // pidfile directory itself becomes the user's below.
  reachable(account, path.dirname(dir), pidfile);
  if (logfile !== undefined && path.dirname(logfile) !== dir) reachable(account, path.dirname(logfile), logfile);
  const st = fs.statSync(dir);
  if (st.uid !== account.uid) {
    if ((st.mode & 0o1000) !== 0) {
      // Sticky (like /tmp): the user can create its own files there already, and the
      // first generation gives it the pidfile and sidecar before it drops (dropPrivileges).
    } else if (SHARED_DIRS.has(dir)) {
      throw new ForkoverError(
        'UNSAFE_PATH',
        `with --user ${account.user}, the pidfile needs a directory of its own that ${account.user} can write, not the shared ${dir}; use for example ${path.join(dir, path.basename(pidfile, '.pid'))}/${path.basename(pidfile)} (the launcher gives that directory to ${account.user})`,
        { path: dir },
      );
    } else {
      fs.chownSync(dir, account.uid, account.gid);
    }
  }
  if (logFd !== undefined) fs.fchownSync(logFd, account.uid, account.gid);
}

/**
 * Later generations run as the user and open these paths again: every ancestor must let
 * the user through (search permission), or they would fail with a bare EACCES much later.
 */
function reachable(account: Account, dir: string, target: string): void {
  for (let d = dir; ; d = path.dirname(d)) {
    const st = fs.statSync(d);
    const bit = st.uid === account.uid ? 0o100 : st.gid === account.gid ? 0o010 : 0o001;
    if ((st.mode & bit) === 0) {
      throw new ForkoverError(
        'UNSAFE_PATH',
        `with --user ${account.user}, ${account.user} must reach ${target}, but ${d} (mode ${(st.mode & 0o7777).toString(8)}) does not let it through; run "chmod o+x ${d}" or choose another path`,
        { path: d },
      );
    }
    if (d === path.dirname(d)) return;
  }
}

/**
 * Become the `--user` account, if there is one: initgroups → setgid → setuid (R1.10).
 * As root, first give `files` (the pidfile, its sidecar: written at start-up as root) to
 * the user, so it can replace and remove them later (R2.7 removal at exit, R2.4 rollback).
 * A process that already runs as the user (a later generation) only checks that it does.
 */
export function dropPrivileges(settings: { user: string | undefined; group: string | undefined }, files: string[]): void {
  if (settings.user === undefined) return;
  const account = resolveAccount(settings.user, settings.group);
  const euid = process.geteuid!();
  if (euid !== 0) {
    if (euid === account.uid && process.getegid!() === account.gid) return;
    throw new ForkoverError(
      'BAD_OPTION',
      `--user ${account.user} needs root to switch to uid ${account.uid}, but this process runs as uid ${euid}; start it as root, or without --user`,
      { flag: '--user' },
    );
  }
  for (const f of files) {
    try {
      fs.lchownSync(f, account.uid, account.gid);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  // initgroups takes a name or uid and needs root; it sets the supplementary groups the
  // user has in /etc/group (what spawn({uid}) would lose, R9.4).
  // @types/node 20 lacks process.initgroups (https://nodejs.org/api/process.html#processinitgroupsuser-extragroup).
  const initgroups = (process as { initgroups?: (user: string | number, extraGroup: string | number) => void }).initgroups!;
  initgroups.call(process, /^\d+$/.test(account.user) ? account.uid : account.user, account.gid);
  process.setgid!(account.gid);
  process.setuid!(account.uid);
  if (process.geteuid!() !== account.uid || process.getegid!() !== account.gid) {
    throw new ForkoverError('BAD_OPTION', `could not switch to uid ${account.uid} gid ${account.gid}`, { flag: '--user' });
  }
}
