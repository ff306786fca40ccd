/**
 * The pidfile and its sidecar: read, write atomically, remove only our own, lock.
 *
 * The pidfile holds exactly `PID\n` (contracts R2.1), because systemd, LSB and both
 * start-stop-daemons read only its first integer. What forkover needs beyond that (the
 * identity of each generation, its listeners, the last handoff's outcome) lives in the
 * sidecar `<pidfile>.meta`, written before the pidfile so a reader never finds a PID
 * whose record is missing.
 *
 * Must not: know about signals, sockets or the CLI.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ForkoverError } from './errors.js';
import { MAX_PIDFILE_BYTES, PIDFILE_MODE } from './defaults.js';
import type { Identity } from './proc.js';
import { type ProtocolStamp, compatible, ownStamp, stampFromJson, unversionedStamp } from './protocol.js';

/** What `status --json` and `reload` read: published by the generation the pidfile names. */
export interface DaemonState {
  /**
   * The format: 1 since the first release. Fields are only ever added, so every reader of
   * version 1 reads every sidecar of version 1 (an older CLI ignores what it does not know).
   */
  version: 1;
  /** The writer's hand-over protocol (protocol.ts). Absent from sidecars of forkover up to e8509a1 (protocol 1). */
  protocol?: ProtocolStamp;
  /** The generation the pidfile names. */
  leader: Identity & { startedAt: string; generation: number };
  /** The leader's workers, leader included (one entry unless `--workers`). */
  workers: Identity[];
  /** Replaced generations that may still be draining; readers drop the dead ones. */
  draining: Identity[];
  /** The listeners the leader serves. */
  listeners: { name: string; address: string }[];
  /** Handoffs counted so far; `reload` waits for this to grow. */
  handoffSeq: number;
  /** How the last handoff ended, once one has. */
  lastHandoff: HandoffOutcome | null;
  /** `--standby`: the process waiting to become the next generation. Absent from older sidecars. */
  standby?: Identity | null;
  /** The generation's `--upgrade-timeout`, which bounds `forkover reload`'s wait. Absent from older sidecars. */
  upgradeTimeoutMs?: number;
  /** forkover's log: its path (null: none of its own) and whether writes to it fail (log.ts). Absent from older sidecars. */
  log?: { path: string | null; failing: { since: string; error: string } | null };
}

export interface HandoffOutcome {
  seq: number;
  outcome: 'ok' | 'rolled-back' | 'refused';
  reason: string | null;
  oldPid: number;
  newPid: number | null;
  durationMs: number | null;
  at: string;
}

export const statePath = (pidfile: string): string => `${pidfile}.meta`;
export const lockPath = (pidfile: string): string => `${pidfile}.lock`;

/**
 * Read the PID from a pidfile. Returns undefined when there is no pidfile; throws
 * PIDFILE_INVALID, naming the file and what is wrong with it, when it holds no usable PID.
 */
export function readPid(file: string): number | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ForkoverError('PIDFILE_INVALID', `cannot read pidfile ${file}: ${(err as Error).message}`, { path: file }, { cause: err });
  }
  let text: string;
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new ForkoverError('PIDFILE_INVALID', `pidfile ${file} is not a regular file; remove it`, { path: file });
    if (st.size > MAX_PIDFILE_BYTES) {
      throw new ForkoverError('PIDFILE_INVALID', `pidfile ${file} is ${st.size} bytes, too large to hold a PID; remove it`, { path: file });
    }
    const buf = Buffer.alloc(MAX_PIDFILE_BYTES);
    const n = fs.readSync(fd, buf, 0, buf.length, 0);
    text = buf.subarray(0, n).toString('utf8');
  } finally {
    fs.closeSync(fd);
  }
  const first = text.split('\n', 1)[0]!.trim();
  if (first === '') throw new ForkoverError('PIDFILE_INVALID', `pidfile ${file} is empty; remove it`, { path: file });
  if (!/^-?\d+$/.test(first)) {
    // Nothing of the content is echoed: the path may lead to a file that is no pidfile
    // at all (a link to /etc/passwd), and `status` is for anyone to run (issue 17).
    throw new ForkoverError('PIDFILE_INVALID', `pidfile ${file} does not hold a PID (its first line is not a number${linkNote(file)}); remove it`, { path: file });
  }
  const pid = Number(first);
  if (!Number.isSafeInteger(pid) || pid <= 1 || pid > 4_194_304) {
    throw new ForkoverError('PIDFILE_INVALID', `pidfile ${file} holds ${first}, which is no daemon's PID; remove it`, { path: file });
  }
  return pid;
}

/** `, and it is a symlink to X` when the pidfile path is a link, for the messages about its content. */
function linkNote(file: string): string {
  try {
    return fs.lstatSync(file).isSymbolicLink() ? `, and it is a symlink to ${fs.readlinkSync(file)}` : '';
  } catch {
    return '';
  }
}

/**
 * Replace `file` atomically (contracts R2.3): write a temp file in the same directory,
 * opened O_EXCL|O_NOFOLLOW so a planted link is never followed, fsync it (when
 * `durable`), then rename it over the target. The target is never truncated, so a
 * reader sees the old content or the new one, and a failure (a full disk) leaves the old
 * file intact and no temp file.
 */
export function writeFileAtomic(file: string, data: string, mode: number, durable = true): void {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, mode);
    fs.fchmodSync(fd, mode);
    fs.writeSync(fd, data);
    if (durable) fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
  } catch (err) {
    if (fd !== undefined) fs.closeSync(fd);
    // EEXIST means the temp name is taken by something we did not create: leave it.
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') fs.rmSync(tmp, { force: true });
    throw new ForkoverError('PIDFILE_WRITE', `cannot write ${file}: ${(err as Error).message}; the previous file is unchanged`, { path: file }, { cause: err });
  }
}

/** Write `PID\n` to the pidfile, atomically. */
export function writePid(file: string, pid: number): void {
  writeFileAtomic(file, `${pid}\n`, PIDFILE_MODE);
}

/**
 * The sidecar is replaced atomically like the pidfile, but not fsync'd: it is runtime
 * state, and a crash that loses unsynced writes also ends every process it describes.
 * The fsync cost 1–10 ms on the handoff's critical path here (bench/handoff). The
 * pidfile itself keeps its fsync (contracts R2.3).
 */
export function writeState(pidfile: string, state: DaemonState): void {
  writeFileAtomic(statePath(pidfile), `${JSON.stringify(state, null, 2)}\n`, PIDFILE_MODE, false);
}

/** Publish a generation: the sidecar first, then the pidfile, so the PID never lacks a record. */
export function publish(pidfile: string, state: DaemonState): void {
  writeState(pidfile, state);
  writePid(pidfile, state.leader.pid);
}

export function readState(pidfile: string): DaemonState | undefined {
  try {
    const parsed = JSON.parse(fs.readFileSync(statePath(pidfile), 'utf8')) as DaemonState;
    return parsed?.version === 1 ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Why this build cannot use the sidecar of `pidfile`, naming its writer's version and
 * what to do; undefined when it can, or when there is none (or it is not JSON: a
 * half-written or foreign file, which readers treat as absent). A sidecar of another
 * format version, or of a protocol this build does not accept, is not guessed at.
 */
export function sidecarProblem(pidfile: string): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(statePath(pidfile), 'utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const o = parsed as { version?: unknown; protocol?: unknown };
  const stamp = o.protocol === undefined ? unversionedStamp() : stampFromJson(o.protocol);
  const own = ownStamp();
  const by = stamp ? `forkover ${stamp.release} (hand-over protocol ${stamp.version})` : 'a forkover that states no readable protocol';
  if (o.version !== 1 || stamp === undefined || !compatible(own, stamp)) {
    return (
      `${statePath(pidfile)} was written by ${by} in sidecar format ${JSON.stringify(o.version)}, which this forkover CLI ` +
      `(${own.release}, protocol ${own.version}, format 1) cannot read; run the forkover CLI of the release the daemon runs ` +
      `(the node_modules/.bin/forkover it was started with), or stop it with that CLI and start it again with this one`
    );
  }
  return undefined;
}

/** R2.5: the refusal of a start while the pidfile names a live, verified daemon. */
export function alreadyRunning(pid: number, pidfile: string): ForkoverError {
  return new ForkoverError('ALREADY_RUNNING', `already running as PID ${pid} (pidfile ${pidfile}); run "forkover stop -p ${pidfile}" first`, { pid, path: pidfile });
}

/** The recorded identity of `pid`, as leader, worker or draining generation. */
export function recordFor(state: DaemonState | undefined, pid: number): Identity | undefined {
  if (!state) return undefined;
  if (state.leader.pid === pid) return state.leader;
  return state.workers.find((w) => w.pid === pid) ?? state.draining.find((d) => d.pid === pid);
}

/**
 * Read the pidfile and its sidecar as one consistent snapshot. A handoff writes the
 * sidecar, then the pidfile; a reader between the two sees a PID its record does not
 * lead yet, so read again until the two agree (or give the last pair).
 */
export function readSnapshot(pidfile: string): { pid: number | undefined; state: DaemonState | undefined } {
  let pid = readPid(pidfile);
  let state = readState(pidfile);
  for (let i = 0; i < 5 && pid !== undefined && state?.leader.pid !== pid; i++) {
    pid = readPid(pidfile);
    state = readState(pidfile);
  }
  return { pid, state };
}

/**
 * On a final (non-handoff) exit, remove the pidfile and sidecar, but only if the pidfile
 * still holds our own PID (contracts R2.7): after a handoff it names our successor.
 * Synchronous, because it runs from exit handlers.
 */
export function removeIfOwn(pidfile: string, pid: number): boolean {
  let current: number | undefined;
  try {
    current = readPid(pidfile);
  } catch {
    return false;
  }
  if (current !== pid) return false;
  fs.rmSync(pidfile, { force: true });
  const state = readState(pidfile);
  if (state === undefined || state.leader.pid === pid) fs.rmSync(statePath(pidfile), { force: true });
  return true;
}

/**
 * Take `<pidfile>.lock` for the check-and-write that makes start-up single-instance
 * (contracts R2.5). Core Node has no flock, so this is proper-lockfile's mkdir lock,
 * refreshed while held and broken once stale, which a holder killed mid-start becomes.
 * Resolves to the release function.
 */
export async function lockPidfile(pidfile: string, waitMs: number): Promise<() => Promise<void>> {
  // The uncontended case, which is every start but a race: proper-lockfile's lock is the
  // directory itself, and its first step is this mkdir. Taking it here spares the
  // daemon's start loading proper-lockfile, graceful-fs, retry and signal-exit 3
  // (callgrind, issue 13: 76 million instructions in an empty Node, whose whole start is
  // 500 million; a daemon's start to READY went from 715–719 to 683–689 million). The hold
  // is the claim's few file operations, far below `stale`, so the mtime refresh
  // proper-lockfile would arm is not needed; a holder killed meanwhile leaves a
  // directory that proper-lockfile breaks once stale, as it would its own.
  try {
    fs.mkdirSync(lockPath(pidfile));
    return async () => {
      try {
        fs.rmdirSync(lockPath(pidfile)); // as proper-lockfile's unlock: only the empty directory it made
      } catch {
        // already gone (broken as stale by another start)
      }
    };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
      // Not a competing start: the directory refuses the lock (read-only, full, gone).
      throw new ForkoverError(
        'PIDFILE_WRITE',
        `cannot create the lock ${lockPath(pidfile)}: ${(err as Error).message}; make ${path.dirname(pidfile)} writable (or choose another --pidfile)`,
        { path: lockPath(pidfile) },
        { cause: err },
      );
    }
  }
  // Held by another start, or left by a dead one: proper-lockfile waits and breaks a stale
  // lock. Loaded only now, so a handoff's new generation or a worker never pays its load
  // time either (issue 6: start-up stays close to bare Node).
  const { default: lockfile } = await import('proper-lockfile');
  try {
    return await lockfile.lock(pidfile, {
      realpath: false, // the pidfile may not exist yet
      lockfilePath: lockPath(pidfile),
      stale: 10_000,
      update: 2_000,
      retries: { retries: Math.max(1, Math.ceil(waitMs / 100)), factor: 1, minTimeout: 100, maxTimeout: 100 },
      // A lost lock must not throw from a timer and kill the daemon; the check-and-write
      // it guarded is over by the time this could fire.
      onCompromised: () => {},
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ELOCKED') {
      // Not a competing start: the directory refuses the lock (read-only, full, gone).
      throw new ForkoverError(
        'PIDFILE_WRITE',
        `cannot create the lock ${lockPath(pidfile)}: ${(err as Error).message}; make ${path.dirname(pidfile)} writable (or choose another --pidfile)`,
        { path: lockPath(pidfile) },
        { cause: err },
      );
    }
    throw new ForkoverError(
      'PIDFILE_LOCKED',
      `another start holds ${lockPath(pidfile)}; if no start is running, remove that directory`,
      { path: lockPath(pidfile) },
      { cause: err },
    );
  }
}

/**
 * Refuse a directory that someone other than root or the daemon's user could write to
 * without the sticky bit (contracts R2.8, R10.1): such a user could replace our files
 * or pick the PID that root later signals. Ancestors are not checked, as neither
 * systemd nor start-stop-daemon checks them.
 */
export function checkDirectory(dir: string, what: string, allowedUids: number[]): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch (err) {
    throw new ForkoverError('UNSAFE_PATH', `${what} directory ${dir} is not usable: ${(err as Error).message}; create it first`, { path: dir }, { cause: err });
  }
  if (!st.isDirectory()) throw new ForkoverError('UNSAFE_PATH', `${dir} is not a directory`, { path: dir });
  const sticky = (st.mode & 0o1000) !== 0;
  if ((st.mode & 0o022) !== 0 && !sticky) {
    throw new ForkoverError(
      'UNSAFE_PATH',
      `${what} directory ${dir} is writable by group or others (mode ${(st.mode & 0o7777).toString(8)}); run "chmod go-w ${dir}" or use a directory only its owner can write, such as /run/<name>`,
      { path: dir },
    );
  }
  if (!allowedUids.includes(st.uid)) {
    throw new ForkoverError(
      'UNSAFE_PATH',
      `${what} directory ${dir} belongs to uid ${st.uid}, not to root or the daemon's user; run "chown ${allowedUids[allowedUids.length - 1]} ${dir}"`,
      { path: dir },
    );
  }
}

/**
 * Refuse a directory we cannot create files in (a read-only mount, R2.3 needs a temp file
 * beside the target), before anything is started.
 */
export function checkWritable(dir: string, what: string): void {
  try {
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (err) {
    throw new ForkoverError(
      'UNSAFE_PATH',
      `${what} directory ${dir} is not writable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); make it writable, or mount it read-write, or choose another path`,
      { path: dir },
      { cause: err },
    );
  }
}

/**
 * A path that is a symlink is followed only when the link itself and its directory belong
 * to root or one of `allowedUids` (contracts R10.1): `/var/log/app.log -> /data/app.log`
 * set up by the admin is fine; a link another user planted is refused. Not a link, or
 * absent: nothing to check.
 */
export function checkLink(file: string, what: string, allowedUids: number[]): void {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch {
    return;
  }
  if (!st.isSymbolicLink()) return;
  const dir = path.dirname(file);
  const dirUid = fs.statSync(dir).uid;
  if (!allowedUids.includes(st.uid) || !allowedUids.includes(dirUid)) {
    throw new ForkoverError(
      'UNSAFE_PATH',
      `${what} ${file} is a symlink owned by uid ${st.uid} (in a directory of uid ${dirUid}); only links that root or the daemon's user made are followed: remove it, or recreate it as root`,
      { path: file },
    );
  }
}
