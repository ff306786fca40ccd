/**
 * `forkover init-script`: check the user's arguments, build an {@link InitScriptSpec}
 * and hand it to the renderer of the chosen init system.
 *
 * Validation lives here, once, so every renderer can assume a clean spec: a name that is
 * a valid process title (R6.4, R9.7), absolute paths made only of characters no shell or
 * unit file needs to quote, and a command whose program is an absolute path (init
 * systems run services with a minimal PATH). With `--start` (issue 14) the words after
 * "--" are `forkover start`'s: its flags (checked here) and the app's command (not).
 *
 * Must not: read or write files, print, or pick exit codes (cli.ts does).
 */
import * as path from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ForkoverError } from '../errors.js';
import { addForkoverOptions } from '../options.js';
import { DEFAULT_DRAIN_TIMEOUT_S, DEFAULT_STOP_DELAY_S, MAX_TITLE_LENGTH } from '../defaults.js';
import type { InitScriptKind, InitScriptSpec, RenderedFile, Renderer } from './types.js';
import { renderSysv } from './sysv.js';
import { renderOpenrc } from './openrc.js';
import { renderLogrotate } from './logrotate.js';
import { SHARED_DIRS } from './shell.js';
import { isNodeBinary } from './launch.js';
import { renderSystemd, renderSystemdNotify, renderSystemdSocket } from './systemd.js';

export type { InitScriptKind, InitScriptSpec, RenderedFile, Renderer } from './types.js';

/** Every kind `forkover init-script` knows, in the order `--help` lists them. */
export const INIT_SCRIPT_KINDS: readonly InitScriptKind[] = ['systemd', 'systemd-notify', 'systemd-socket', 'sysv', 'openrc', 'logrotate'];

/** The flags of `forkover init-script`, as commander hands them over (all optional strings). */
export interface InitScriptArgs {
  name?: unknown;
  user?: unknown;
  group?: unknown;
  pidfile?: unknown;
  logfile?: unknown;
  listen?: unknown;
  /** `--start`: the app imports nothing of forkover; launch it with `forkover start` (issue 14). */
  start?: unknown;
}

/** The pidfile when `--pidfile` is not given: `/run/<name>/<name>.pid` (issue 4; systemd `RuntimeDirectory=<name>`). */
export function defaultPidfile(name: string): string {
  return `/run/${name}/${name}.pid`;
}

/**
 * The log file when `--logfile` is not given, for the kinds that daemonize and for
 * logrotate: `/var/log/<name>/<name>.log` (systemd `LogsDirectory=<name>`). A daemon has
 * no terminal and a forking one never reaches the journal, so without a file its output
 * would be lost (issue 16.2); the logrotate snippet for the same --name rotates this file.
 */
export function defaultLogfile(name: string): string {
  return `/var/log/${name}/${name}.log`;
}

/**
 * The kinds whose service runs in the foreground under its init, its stdout and stderr
 * the journal's: they need no log file (types.ts `logfile`).
 */
export const FOREGROUND_KINDS: readonly InitScriptKind[] = ['systemd-notify', 'systemd-socket'];

function bad(flag: string, message: string): ForkoverError {
  return new ForkoverError('BAD_OPTION', `${flag}: ${message}`, { flag });
}

// Paths end up inside sh scripts (sometimes inside an eval'd string: OpenRC's
// command_args), unit files and logrotate configs. Allowing only these characters keeps
// every one of them correct without per-format quoting.
const SAFE_PATH = /^\/[A-Za-z0-9._@+:,/-]*$/;
// What useradd/groupadd accept on Debian (NAME_REGEX), plus the trailing $ of machine accounts.
const ACCOUNT = /^[a-z_][a-z0-9_-]*\$?$/i;
// The title doubles as the service name: file names (/etc/init.d/<name>), unit names, comm.
const NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

function optionalString(value: unknown, flag: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') throw bad(flag, 'needs a value');
  return value;
}

function absolutePath(value: unknown, flag: string, example: string): string | undefined {
  const p = optionalString(value, flag);
  if (p === undefined) return undefined;
  if (!path.isAbsolute(p)) throw bad(flag, `init systems need an absolute path, not ${JSON.stringify(p)}; e.g. ${example}`);
  if (!SAFE_PATH.test(p) || p.endsWith('/')) {
    throw bad(flag, `${JSON.stringify(p)} must be a file path made of letters, digits and . _ @ + : , - / only, so init scripts can use it unquoted`);
  }
  return path.normalize(p);
}

/**
 * The flags of `forkover start` each script sets itself, from init-script's own flags or
 * its init system's needs: given again after "--" they would fight those.
 */
const SCRIPT_OWNED: Readonly<Record<string, string>> = { daemon: '--daemon', pidfile: '--pidfile', logfile: '--logfile', name: '--name', user: '--user', group: '--group' };

/**
 * With `--start`, the words after "--" are what `forkover start` takes: its own flags
 * first, ending in "--" (`--workers 2 -- /usr/bin/node app.js`), or just the command.
 * The flags are checked by forkover's own option definitions (addForkoverOptions, which
 * `forkover start` parses them with) plus `--listeners` as start-command.ts checks it;
 * the command's words are the app's and are not looked at.
 */
function splitStartCommand(words: readonly string[]): { flags: string[]; command: string[]; drainS: number } {
  if (words.length === 0 || !words[0]!.startsWith('-')) return { flags: [], command: [...words], drainS: DEFAULT_DRAIN_TIMEOUT_S };
  const example = '-- --workers 2 -- /usr/bin/node /srv/app/server.js --port 8080';
  if (words[0] === '--') return { flags: [], command: words.slice(1), drainS: DEFAULT_DRAIN_TIMEOUT_S };
  const end = words.indexOf('--');
  if (end < 0) throw bad('<command>', `with --start, forkover start's own flags come first and end with "--" before the app's command, e.g. ${example}`);
  const flags = words.slice(0, end);
  const start = addForkoverOptions(new Command('forkover start'))
    .addOption(
      new Option('--listeners <n>').argParser((v) => {
        if (!/^[1-9]\d*$/.test(v)) throw new InvalidArgumentError(`takes a whole number of at least 1, not "${v}"`);
        return Number(v);
      }),
    )
    .helpOption(false)
    .allowExcessArguments() // reported below, with the fix
    .exitOverride()
    .configureOutput({ writeErr: () => {}, writeOut: () => {} });
  try {
    start.parse(flags, { from: 'user' });
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    throw bad('<command>', `forkover start's flags before "--": ${err.message.replace(/^error: /, '')}`);
  }
  if (start.args.length > 0) throw bad('<command>', `${JSON.stringify(start.args[0])} is not a flag of forkover start; its flags end with "--" before the app's command, e.g. ${example}`);
  for (const [key, flag] of Object.entries(SCRIPT_OWNED)) {
    if (start.getOptionValueSource(key) === 'cli') throw bad('<command>', `leave ${flag} out of forkover start's flags: the script sets it itself${flag === '--daemon' ? '' : `; give ${flag} to init-script instead`}`);
  }
  // commander applied the defaults (DEFAULT_DRAIN_TIMEOUT_S, DEFAULT_STOP_DELAY_S).
  const { drainTimeout, stopDelay } = start.opts<{ drainTimeout: number; stopDelay: number }>();
  return { flags, command: words.slice(end + 1), drainS: drainTimeout + stopDelay };
}

/**
 * The app's stop deadline from forkover's flags in its own command line (the form
 * without --start, where they sit among the app's words): `--drain-timeout` plus
 * `--stop-delay`, the last of each winning as commander has it. A value the app would
 * refuse is refused here, with the flag named.
 */
function drainOfCommand(words: readonly string[]): number {
  const value = (flag: string, fallback: number, zeroOk: boolean): number => {
    let found: string | undefined;
    for (let i = 0; i < words.length; i++) {
      const w = words[i]!;
      if (w === flag) found = words[++i] ?? '';
      else if (w.startsWith(`${flag}=`)) found = w.slice(flag.length + 1);
    }
    if (found === undefined) return fallback;
    const n = Number(found);
    if (found.trim() === '' || !Number.isFinite(n) || n < 0 || (n === 0 && !zeroOk)) {
      throw bad('<command>', `the app's ${flag} takes a number of seconds${zeroOk ? ', 0 or more' : ' greater than 0'}, not ${JSON.stringify(found)}: the app would refuse it`);
    }
    return n;
  };
  return value('--drain-timeout', DEFAULT_DRAIN_TIMEOUT_S, false) + value('--stop-delay', DEFAULT_STOP_DELAY_S, true);
}

function isKind(kind: unknown): kind is InitScriptKind {
  return typeof kind === 'string' && (INIT_SCRIPT_KINDS as readonly string[]).includes(kind);
}

/**
 * Check `forkover init-script` arguments and build the spec. Throws a BAD_OPTION
 * ForkoverError whose message starts with the flag at fault and says what would work.
 *
 * @param forkoverBin absolute path of the forkover CLI the scripts call for reload/status.
 * @param cliNode with `--start` and a command whose program is not a node binary (a
 *   script run with the current node): the absolute node that runs `forkover start`.
 */
export function buildSpec(kind: unknown, args: InitScriptArgs, words: readonly string[], forkoverBin: string, cliNode: string = process.execPath): InitScriptSpec {
  if (!isKind(kind)) {
    throw bad('<kind>', `unknown init system ${JSON.stringify(kind)}; choose one of ${INIT_SCRIPT_KINDS.join(', ')}`);
  }
  const name = optionalString(args.name, '--name');
  if (name === undefined) throw bad('--name', 'is required: the service name and process title, e.g. --name hello');
  if (name.length > MAX_TITLE_LENGTH || !NAME.test(name)) {
    throw bad(
      '--name',
      `must be 1 to ${MAX_TITLE_LENGTH} letters, digits, ".", "_" or "-" (it is the process title that start-stop-daemon --name matches in /proc/PID/comm, R6.4), not ${JSON.stringify(name)}`,
    );
  }
  const user = optionalString(args.user, '--user');
  if (user !== undefined && !ACCOUNT.test(user)) throw bad('--user', `${JSON.stringify(user)} is not a valid user name`);
  const group = optionalString(args.group, '--group');
  if (group !== undefined && !ACCOUNT.test(group)) throw bad('--group', `${JSON.stringify(group)} is not a valid group name`);
  if (group !== undefined && user === undefined) throw bad('--group', 'only makes sense with --user (the service runs as root otherwise)');
  const pidfile = absolutePath(args.pidfile, '--pidfile', defaultPidfile(name)) ?? defaultPidfile(name);
  const givenLog = absolutePath(args.logfile, '--logfile', defaultLogfile(name));
  const logfileDefault = givenLog === undefined && !FOREGROUND_KINDS.includes(kind);
  const logfile = givenLog ?? (logfileDefault ? defaultLogfile(name) : undefined);
  const listen = optionalString(args.listen, '--listen');
  if (listen !== undefined && kind !== 'systemd-socket') throw bad('--listen', `is the .socket unit's ListenStream= and only applies to systemd-socket, not ${kind}`);
  if (listen !== undefined && /[\s"'\\]/.test(listen)) throw bad('--listen', `${JSON.stringify(listen)} must be a port, an address:port or an absolute socket path`);
  if (kind === 'logrotate' && user !== undefined && group === undefined && !SHARED_DIRS.includes(path.dirname(logfile!))) {
    throw bad('--group', `is required with --user for logrotate: its "su ${user} GROUP" line needs the group the daemon runs with (e.g. the output of "id -gn ${user}")`);
  }
  // R10.4: a daemon that drops to --user writes its pidfile again at every handoff, so the
  // pidfile's directory must belong to that user. Only a directory of its own can.
  const piddir = path.dirname(pidfile);
  if (user !== undefined && ['/', '/run', '/var/run', '/tmp', '/var/tmp'].includes(piddir)) {
    throw bad('--pidfile', `with --user the pidfile needs a directory of its own that the user owns (R10.4), not ${piddir}; e.g. ${defaultPidfile(name)}`);
  }
  if (args.start !== undefined && typeof args.start !== 'boolean') throw bad('--start', 'takes no value');
  const startForm = args.start === true;
  const { flags: startFlags, command, drainS } = startForm ? splitStartCommand(words) : { flags: [], command: [...words], drainS: undefined };
  if (command.length === 0) throw bad('<command>', 'the app command is missing: give it after "--", e.g. -- /usr/bin/node /srv/app/server.js --port 8080');
  for (const word of command) {
    if (typeof word !== 'string' || /[\n\r\0]/.test(word)) throw bad('<command>', `a command word cannot contain a line break or NUL: ${JSON.stringify(word)}`);
  }
  // The scripts add forkover's own flags where their init system needs them; the same
  // flag in the app's words would fight them (a second --pidfile, --daemon in a notify unit).
  // With --start they are not: forkover start takes its flags before "--" and hands the
  // app its words untouched, so an app's own --name or -p stays the app's.
  const FLAG_OF: Record<string, string> = { '--daemon': '', '-p': '--pidfile', '--pidfile': '--pidfile', '-l': '--logfile', '--logfile': '--logfile', '--name': '--name', '--user': '--user', '--group': '--group' };
  for (const word of startForm ? [] : command.slice(1)) {
    const flag = word.split('=')[0]!;
    if (Object.hasOwn(FLAG_OF, flag)) {
      const ours = FLAG_OF[flag];
      throw bad('<command>', `leave ${flag} out of the app's command line: the script adds forkover's flags itself${ours ? `; give ${ours} to init-script instead` : ''}`);
    }
  }
  const program = command[0]!;
  if (!path.isAbsolute(program)) {
    throw bad('<command>', `init systems run services with a minimal PATH, so the program needs an absolute path, not ${JSON.stringify(program)}; e.g. ${process.execPath}`);
  }
  if (!path.isAbsolute(forkoverBin)) throw new TypeError(`forkoverBin must be an absolute path, not ${JSON.stringify(forkoverBin)}`);
  if (!path.isAbsolute(cliNode)) throw new TypeError(`cliNode must be an absolute path, not ${JSON.stringify(cliNode)}`);
  // The node that runs forkover's CLI (and `forkover start`): the app's own when its
  // program is one (it runs forkover already), else the Node running this (issue 16.3).
  const node = isNodeBinary(program) ? program : cliNode;
  return {
    kind,
    name,
    ...(user !== undefined ? { user } : {}),
    ...(group !== undefined ? { group } : {}),
    pidfile,
    ...(logfile !== undefined ? { logfile } : {}),
    ...(logfileDefault ? { logfileDefault } : {}),
    ...(listen !== undefined ? { listen } : {}),
    command: [...command],
    forkoverBin,
    node,
    drainS: drainS ?? drainOfCommand(command.slice(1)),
    // The start form runs `forkover start` with the command's own node, so that the app
    // runs in that process (start-command.ts); a bare script runs with the given node.
    ...(startForm ? { start: { node, flags: startFlags } } : {}),
  };
}

/** The renderer of each kind: one per init system (types.ts). */
export const RENDERERS: Readonly<Record<InitScriptKind, Renderer>> = {
  systemd: renderSystemd,
  'systemd-notify': (spec) => renderSystemdNotify(spec),
  'systemd-socket': (spec) => renderSystemdSocket(spec),
  sysv: renderSysv,
  openrc: renderOpenrc,
  logrotate: renderLogrotate,
};

/**
 * Render the files of `spec.kind`. Async so that a renderer may be loaded lazily later
 * (the systemd ones were, before systemd.ts existed); today all are pure and synchronous.
 */
export async function renderInitScript(spec: InitScriptSpec): Promise<RenderedFile[]> {
  const render = RENDERERS[spec.kind];
  if (render === undefined) throw new ForkoverError('BAD_OPTION', `<kind>: unknown init system ${JSON.stringify(spec.kind)}`, { flag: '<kind>' });
  return render(spec);
}

/**
 * What `forkover init-script` prints: one file as it is (so `> /etc/init.d/NAME` works);
 * several files each after a header line naming it.
 */
export function formatRendered(files: readonly RenderedFile[]): string {
  if (files.length === 1) return files[0]!.content;
  return files.map((f) => `${FILE_HEADER_PREFIX}${f.filename} ${FILE_HEADER_SUFFIX}\n${f.content}`).join('\n');
}

/** The header line before each file when `forkover init-script` prints several. */
export const FILE_HEADER_PREFIX = '# ==> ';
export const FILE_HEADER_SUFFIX = '<==';
