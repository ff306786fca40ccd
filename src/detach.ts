/**
 * The launcher: daemonize by re-spawning, and exit only once the daemon is ready
 * (contracts §1, R1.2–R1.9).
 *
 * Node cannot fork() without exec, so the classic double fork becomes:
 *   launcher --spawn(detached: setsid)--> /bin/sh --"&"--> node app (the daemon)
 * The shell is the session leader and exits at once, so the daemon is in a new session
 * but not its leader (no controlling tty can come back) and is reparented to init or the
 * nearest subreaper. A shell costs about a millisecond where a second Node start would
 * cost tens. Its stdout carries the daemon's PID back (`$!`), so the launcher can kill a
 * daemon that hangs before it says anything.
 *
 * The daemon gets: stdin /dev/null, stdout and stderr on one O_APPEND log fd opened here
 * (mode 0640), cwd `/`, a sanitised environment, and the readiness channel. It reports
 * `READY` once it listens and the pidfile holds its PID; the launcher then checks the
 * pidfile itself and exits 0. On EOF, a FAIL line or the start timeout it kills the
 * daemon, removes the pidfile if it names it, prints the cause and the log's new lines,
 * and exits 1.
 *
 * Before anything starts it refuses unsafe or unwritable pidfile and log directories and
 * log symlinks others planted (R2.8, R10.1); with `--user` it gives the pidfile directory
 * and the log to that user, whom the daemon becomes after binding (privileges.ts, R10.4).
 *
 * Must not: know about sockets beyond passing fds along.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, type StdioOptions } from 'node:child_process';
import type { Readable } from 'node:stream';
import type * as net from 'node:net';
import { EXIT, ForkoverError, describe, isForkoverError } from './errors.js';
import { LOG_FILE_MODE } from './defaults.js';
import type { Settings } from './options.js';
import { ENV, childEnv, selfCommand, strayFds } from './respawn.js';
import { awaitChild, type ChildEvent } from './readiness.js';
import { isAlive, signalPid, verify, waitForExit } from './proc.js';
import { alreadyRunning, checkDirectory, checkLink, checkWritable, readPid, readState, recordFor, removeIfOwn } from './pidfile.js';
import { type Account, prepareAsRoot, resolveAccount } from './privileges.js';
import type { InheritedFd } from './listeners.js';

export interface LaunchIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

// `$0` is the name, "$@" the command. The daemon's stdout becomes the shell's stderr
// (the log); the shell's own stdout is the launcher's pipe, which gets the daemon's PID.
const INTERMEDIATE = '"$@" >&2 & echo "$!"';

/** Read the last `maxLines` lines appended to `file` since byte `from`. */
function logTail(file: string | undefined, from: number, maxLines = 20): string {
  if (file === undefined) return '  (no --logfile: the daemon\'s output went to /dev/null; add -l <path> to see it)';
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const start = Math.max(from, size - 64 * 1024);
      const buf = Buffer.alloc(Math.max(0, size - start));
      fs.readSync(fd, buf, 0, buf.length, start);
      const lines = buf.toString('utf8').split('\n').filter((l) => l !== '');
      if (lines.length === 0) return `  (nothing new in ${file})`;
      return lines.slice(-maxLines).map((l) => `  | ${l}`).join('\n');
    } finally {
      fs.closeSync(fd);
    }
  } catch (err) {
    return `  (cannot read ${file}: ${describe(err)})`;
  }
}

/** What a path (followed) or an open fd is, in words; undefined if the path does not exist. */
function fileKind(file: string | number): string | undefined {
  let st: fs.Stats;
  try {
    st = typeof file === 'number' ? fs.fstatSync(file) : fs.statSync(file);
  } catch {
    return undefined;
  }
  if (st.isFile()) return 'regular file';
  if (st.isCharacterDevice()) return 'character device';
  if (st.isDirectory()) return 'directory';
  if (st.isFIFO()) return 'FIFO';
  if (st.isSocket()) return 'socket';
  if (st.isBlockDevice()) return 'block device';
  return 'special file';
}

function firstLine(stream: Readable): Promise<string | undefined> {
  return new Promise((resolve) => {
    let buf = '';
    stream.setEncoding('utf8');
    stream.on('data', (c: string) => {
      buf += c;
      const i = buf.indexOf('\n');
      if (i >= 0) resolve(buf.slice(0, i));
    });
    stream.on('end', () => resolve(buf === '' ? undefined : buf));
    stream.on('error', () => resolve(undefined));
  });
}

/**
 * Run the launcher. Resolves to the exit code; the caller exits with it.
 * `activated` are socket-activated fds to re-map to the same numbers (R5.3).
 */
/** The PID the pidfile names, if that is a live daemon that wrote it (verified, R2.6). */
function runningDaemon(pidfile: string): number | undefined {
  try {
    const pid = readPid(pidfile);
    if (pid === undefined || pid === process.pid) return undefined;
    return verify(pid, recordFor(readState(pidfile), pid)).kind === 'ours' ? pid : undefined;
  } catch {
    return undefined; // unreadable: the daemon's claim() says why
  }
}

export async function launch(settings: Settings, io: LaunchIo, activated: InheritedFd[] = []): Promise<number> {
  const pidfile = settings.pidfile!;
  const uid = process.getuid?.() ?? 0;
  let account: Account | undefined;
  try {
    // --user (R10.4): the daemon's user may own the directories too (R2.8).
    account = settings.user !== undefined ? resolveAccount(settings.user, settings.group) : undefined;
    if (account !== undefined && uid !== 0 && uid !== account.uid) {
      throw new ForkoverError('BAD_OPTION', `--user ${settings.user} needs root; this launcher runs as uid ${uid}: start it as root, or without --user`, { flag: '--user' });
    }
    const allowed = [0, uid, ...(account !== undefined ? [account.uid] : [])];
    checkDirectory(path.dirname(pidfile), 'pidfile', allowed);
    checkWritable(path.dirname(pidfile), 'pidfile');
    if (settings.logfile !== undefined) {
      checkDirectory(path.dirname(settings.logfile), 'log', allowed);
      checkLink(settings.logfile, 'log file', allowed); // R10.1
    }
  } catch (err) {
    io.err(`${settings.name}: ${describe(err)}`);
    return isForkoverError(err, 'BAD_OPTION') ? EXIT.BAD_ARGS : EXIT.FAILURE;
  }

  // R2.5: a start while the daemon runs is refused here already, before it writes a line
  // into that daemon's log or starts a process. The daemon's claim() under the pidfile
  // lock stays the authority (two launchers at once); this only spares the running one.
  const running = runningDaemon(pidfile);
  if (running !== undefined) {
    io.err(`${settings.name}: ${describe(alreadyRunning(running, pidfile))}`);
    return EXIT.FAILURE;
  }

  let logFd: number | 'ignore' = 'ignore';
  let logStart = 0;
  if (settings.logfile !== undefined) {
    const unusable = (why: string) => {
      if (typeof logFd === 'number') fs.closeSync(logFd);
      io.err(`${settings.name}: cannot use ${settings.logfile} as the log: ${why}; choose a regular file (or /dev/null)`);
      return EXIT.FAILURE;
    };
    // Before opening: a FIFO without a reader would block the open forever.
    const kind = fileKind(settings.logfile);
    if (kind !== undefined && kind !== 'regular file' && kind !== 'character device') return unusable(`it is a ${kind}, not a regular file`);
    try {
      logFd = fs.openSync(settings.logfile, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT, LOG_FILE_MODE);
      logStart = fs.fstatSync(logFd).size;
    } catch (err) {
      io.err(`${settings.name}: cannot open log file ${settings.logfile}: ${describe(err)}; create its directory or fix its permissions`);
      return EXIT.FAILURE;
    }
    const opened = fileKind(logFd);
    if (opened !== 'regular file' && opened !== 'character device') return unusable(`it is a ${opened ?? 'file of unknown kind'}, not a regular file`);
    // Opening is not taking writes: /proc/version opens for writing as root and refuses
    // every write, so the daemon would run with all its output discarded. The first
    // line is the proof (issue 17).
    try {
      fs.writeSync(logFd, `${new Date().toISOString()} forkover[${process.pid}]: starting ${settings.name} as a daemon (pidfile ${pidfile})\n`);
    } catch (err) {
      return unusable(`it does not take writes (${describe(err)})`);
    }
  } else {
    io.err(`${settings.name}: warning: --daemon without -l/--logfile: the daemon's output goes to /dev/null`);
  }
  if (account !== undefined && uid === 0) {
    try {
      prepareAsRoot(account, pidfile, typeof logFd === 'number' ? logFd : undefined, settings.logfile);
    } catch (err) {
      if (typeof logFd === 'number') fs.closeSync(logFd);
      io.err(`${settings.name}: ${describe(err)}`);
      return EXIT.FAILURE;
    }
  }

  // fds 3… carry socket-activated listeners at the numbers systemd gave them; the
  // readiness channel comes right after them (R1.9, R5.3).
  const readyFd = 3 + activated.length;
  const stdio: StdioOptions = ['ignore', 'pipe', logFd, ...activated.map((a) => a.fd), 'pipe'];
  const keep = [...activated.map((a) => a.fd), ...(typeof logFd === 'number' ? [logFd] : [])];
  const { file, args } = selfCommand();
  const env = childEnv(process.env, {
    [ENV.ROLE]: 'daemon',
    [ENV.READY_FD]: String(readyFd),
    [ENV.CWD]: settings.cwd,
    ...(activated.length > 0 ? { [ENV.FDS]: JSON.stringify(activated.map((a) => a.name)) } : {}),
    [ENV.CLOSE_FDS]: strayFds(keep).join(','),
  });

  const shell = spawn('/bin/sh', ['-c', INTERMEDIATE, 'forkover', file, ...args], {
    detached: true, // setsid() in the shell (R1.2)
    cwd: '/', // R1.8
    env,
    stdio,
  });
  if (typeof logFd === 'number') fs.closeSync(logFd);
  const channel = shell.stdio[readyFd] as net.Socket;
  const event = awaitChild(channel);
  const pidLine = await firstLine(shell.stdout!);
  const daemonPid = Number(pidLine);
  if (!Number.isInteger(daemonPid) || daemonPid <= 0) {
    io.err(`${settings.name}: could not start the daemon through /bin/sh (got ${JSON.stringify(pidLine)})`);
    return EXIT.FAILURE;
  }

  let timer: NodeJS.Timeout | undefined;
  const interrupted = new Promise<ChildEvent | 'timeout' | NodeJS.Signals>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), settings.startTimeoutMs);
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(sig, () => resolve(sig));
  });
  const outcome = await Promise.race([event, interrupted]);
  clearTimeout(timer);

  if (typeof outcome === 'object' && outcome.kind === 'ready') {
    // R1.9: exit 0 only once the pidfile names the daemon and the daemon lives.
    let named: number | undefined;
    try {
      named = readPid(pidfile);
    } catch {
      named = undefined;
    }
    if (named === daemonPid && isAlive(daemonPid)) {
      const where = outcome.info.listeners.map((l) => l.address).join(', ');
      io.out(`${settings.name}: started as PID ${daemonPid} (pidfile ${pidfile}${settings.logfile ? `, log ${settings.logfile}` : ''})${where ? `, listening on ${where}` : ''}`);
      channel.destroy();
      return EXIT.OK;
    }
    return fail(`the daemon (PID ${daemonPid}) reported ready, but ${pidfile} names ${named ?? 'nothing'}`);
  }
  const cause =
    outcome === 'timeout'
      ? `the daemon (PID ${daemonPid}) did not become ready within --start-timeout ${settings.startTimeoutMs / 1000} s; it was killed`
      : typeof outcome === 'string'
        ? `the launcher got ${outcome} before the daemon was ready; the daemon (PID ${daemonPid}) was killed`
        : outcome.kind === 'fail'
          ? `the daemon (PID ${daemonPid}) failed to start: ${outcome.reason}`
          : `the daemon (PID ${daemonPid}) exited before becoming ready`;
  return fail(cause);

  async function fail(cause: string): Promise<number> {
    channel.destroy();
    if (isAlive(daemonPid)) {
      signalPid(daemonPid, 'SIGKILL');
      await waitForExit(daemonPid, 5_000);
    }
    removeIfOwn(pidfile, daemonPid);
    io.err(`${settings.name}: ${cause}\n${settings.logfile ? `last lines of ${settings.logfile}:\n` : ''}${logTail(settings.logfile, logStart)}`);
    return EXIT.FAILURE;
  }
}

