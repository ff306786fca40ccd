/**
 * forkover's flags: their commander definitions, their defaults, and the validation that
 * turns them into settings with absolute paths and milliseconds.
 *
 * Must not: do anything but parse and check.
 */
import * as path from 'node:path';
import { createRequire } from 'node:module';
import type { Command } from 'commander';
import { EXIT, ForkoverError } from './errors.js';
import {
  DEFAULT_DRAIN_TIMEOUT_S,
  DEFAULT_MAX_DRAINING,
  DEFAULT_START_TIMEOUT_S,
  DEFAULT_STOP_DELAY_S,
  DEFAULT_UPGRADE_TIMEOUT_S,
  DEFAULT_WORKERS,
  MAX_TITLE_LENGTH,
} from './defaults.js';

/** The options an app can set from code, or its users with the flags of the same name. */
export interface ForkoverOptions {
  /** `--daemon`: detach, as a classic double-forking daemon (contracts §1). Default: foreground. */
  daemon?: boolean;
  /** `-p, --pidfile <path>`: required with `daemon`. */
  pidfile?: string;
  /** `-l, --logfile <path>`: stdout and stderr, appended. Default: /dev/null as a daemon, the terminal in the foreground. */
  logfile?: string;
  /** `--name <title>`: the process title init scripts match on, at most 15 characters (R6.4). Default: the script's base name. */
  name?: string;
  /** `--start-timeout <s>`, seconds. Default {@link DEFAULT_START_TIMEOUT_S}. */
  startTimeout?: number;
  /** `--drain-timeout <s>`, seconds. Default {@link DEFAULT_DRAIN_TIMEOUT_S}. */
  drainTimeout?: number;
  /** `--upgrade-timeout <s>`, seconds. Default {@link DEFAULT_UPGRADE_TIMEOUT_S}. */
  upgradeTimeout?: number;
  /** `--max-draining <n>`. Default {@link DEFAULT_MAX_DRAINING}. */
  maxDraining?: number;
  /** `--workers <n>`: processes per generation, all accepting on the same sockets. Default {@link DEFAULT_WORKERS}. */
  workers?: number;
  /** `--standby`: keep the next generation's Node started and waiting, so a handoff skips Node's own start; costs one idle Node process. Default: off. */
  standby?: boolean;
  /** `--user <name|uid>`: drop root privileges to this user once every listener is bound (contracts R1.10, R10.4). */
  user?: string;
  /** `--group <name|gid>`: with `user`, the primary group (default: the user's own). */
  group?: string;
  /** `--init`: run as a resident init that supervises the generations and reaps orphans (init-process.ts). Automatic as PID 1. */
  init?: boolean;
  /** `--stop-delay <s>`: seconds a stopping generation keeps serving, with `/readyz` failing, before it drains. Default {@link DEFAULT_STOP_DELAY_S}. */
  stopDelay?: number;
  /** `--health <[host:]port>`: serve `/healthz` and `/readyz` there (health.ts). */
  health?: string | number;
}

/** Validated options: absolute paths, milliseconds. */
export interface Settings {
  daemon: boolean;
  pidfile: string | undefined;
  logfile: string | undefined;
  name: string;
  startTimeoutMs: number;
  drainTimeoutMs: number;
  upgradeTimeoutMs: number;
  maxDraining: number;
  /** Processes per generation: the leader (named in the pidfile) and `workers - 1` more. */
  workers: number;
  /** `--standby`: a handoff uses a Node process started ahead of it (handoff.ts). */
  standby: boolean;
  /** `--user`: who the daemon runs as after binding (privileges.ts). */
  user: string | undefined;
  /** `--group`: its primary group; only with `user`. */
  group: string | undefined;
  /** `--init`: asked for explicitly; PID 1 mode also starts without it as PID 1 (init-process.ts). */
  init: boolean;
  /** `--stop-delay`: a stop keeps serving this long (readiness failing) before the drain (drain.ts). */
  stopDelayMs: number;
  /** `--health`: where `/healthz` and `/readyz` are served (health.ts). */
  health: { host?: string; port: number } | undefined;
  /** The directory the user launched from: relative paths were resolved against it. */
  cwd: string;
}

type Commander = typeof import('commander');
let commanderModule: Commander | undefined;

/**
 * commander, loaded when first needed: by the CLI, by an app that passes its program or
 * no options (the flags are parsed from argv), not by one that passes an options object
 * (`forkover start`'s every generation), which spares that process loading it (about 9 %
 * of an empty Node start's instructions; README, issue 13's start-up). `require` gives
 * the module that `import` does: commander's ESM entry re-exports the CommonJS classes.
 */
export function commander(): Commander {
  return (commanderModule ??= createRequire(import.meta.url)('commander') as Commander);
}

function usageError(message: string): Error {
  return new (commander().InvalidArgumentError)(message);
}

function seconds(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n <= 0) {
      throw usageError(`${flag} takes a number of seconds greater than 0, not "${value}"`);
    }
    return n;
  };
}

function nonNegativeSeconds(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < 0) {
      throw usageError(`${flag} takes a number of seconds, 0 or more, not "${value}"`);
    }
    return n;
  };
}

/**
 * `--health`: `8081`, `:8081`, `127.0.0.1:8081` or `[::1]:8081`. Port 0 picks a free one
 * (the ready log line says which). Returns undefined for anything else.
 */
export function parseHealthAddress(value: string | number): { host?: string; port: number } | undefined {
  const m = /^(?:(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]*)):)?(\d{1,5})$/.exec(String(value).trim());
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  const host = m[1] ?? (m[2] || undefined);
  return host === undefined ? { port } : { host, port };
}

function healthAddress(value: string): string {
  if (parseHealthAddress(value) === undefined) {
    throw usageError(`--health takes [host:]port, such as 8081 or 127.0.0.1:8081, not "${value}"`);
  }
  return value;
}

function count(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw usageError(`${flag} takes a whole number of at least 1, not "${value}"`);
    return n;
  };
}

/**
 * Add forkover's flags to an app's own commander program, so one parser checks both
 * (an unknown flag is then an error naming it). Read them back with `program.opts()`.
 */
export function addForkoverOptions(program: Command): Command {
  const { Option } = commander();
  program
    .addOption(new Option('--daemon', 'detach and run as a daemon; needs --pidfile'))
    .addOption(new Option('-p, --pidfile <path>', 'write the daemon PID here (absolute path recorded)'))
    .addOption(new Option('-l, --logfile <path>', 'append stdout and stderr here (default: /dev/null with --daemon)'))
    .addOption(new Option('--name <title>', `process title, at most ${MAX_TITLE_LENGTH} characters (default: the script's base name)`))
    .addOption(
      new Option('--start-timeout <s>', 'seconds the launcher waits for the daemon to become ready')
        .default(DEFAULT_START_TIMEOUT_S)
        .argParser(seconds('--start-timeout')),
    )
    .addOption(
      new Option('--drain-timeout <s>', 'seconds a stopping generation may take to finish its requests')
        .default(DEFAULT_DRAIN_TIMEOUT_S)
        .argParser(seconds('--drain-timeout')),
    )
    .addOption(
      new Option('--upgrade-timeout <s>', 'seconds a new generation has to become ready before rollback')
        .default(DEFAULT_UPGRADE_TIMEOUT_S)
        .argParser(seconds('--upgrade-timeout')),
    )
    .addOption(
      new Option('--max-draining <n>', 'replaced generations allowed to drain at once; more refuses a handoff')
        .default(DEFAULT_MAX_DRAINING)
        .argParser(count('--max-draining')),
    )
    .addOption(
      new Option('--workers <n>', 'processes per generation, all accepting on the same sockets (the pidfile names the leader)')
        .default(DEFAULT_WORKERS)
        .argParser(count('--workers')),
    )
    .addOption(new Option('--standby', "keep the next generation's Node started and waiting: faster handoffs for one idle process's memory"))
    .addOption(new Option('--user <user>', 'as root: bind the listeners, then run as this user (initgroups, setgid, setuid) before ready'))
    .addOption(new Option('--group <group>', "with --user: run with this primary group (default: the user's)"))
    .addOption(new Option('--init', 'stay resident as an init: run the generations as children, reap orphans, forward signals (automatic as PID 1)'))
    .addOption(
      new Option('--stop-delay <s>', 'seconds a stopping generation keeps serving, with /readyz failing, before it drains (Kubernetes: see README)')
        .default(DEFAULT_STOP_DELAY_S)
        .argParser(nonNegativeSeconds('--stop-delay')),
    )
    .addOption(new Option('--health <addr>', 'serve /healthz and /readyz for probes on [host:]port').argParser(healthAddress));
  exitTwoOnBadUsage(program);
  return program;
}

/** commander's usage errors: a flag or argument the program cannot take. */
const USAGE_ERRORS = new Set([
  'commander.unknownOption',
  'commander.unknownCommand',
  'commander.missingArgument',
  'commander.optionMissingArgument',
  'commander.missingMandatoryOptionValue',
  'commander.invalidArgument',
  'commander.excessArguments',
  'commander.conflictingOption',
]);

/**
 * commander exits 1 on a bad flag; the launcher exits 2 (R6.1: 2 is "bad arguments",
 * 1 "failed to start"), so an init script can tell them apart. commander has already
 * printed the message. An app's own exitOverride(), set before or after, wins: commander
 * keeps one, and we only set ours where there is none.
 */
function exitTwoOnBadUsage(program: Command): void {
  if ((program as unknown as { _exitCallback?: unknown })._exitCallback) return;
  program.exitOverride((err) => {
    process.exit(err.exitCode !== 0 && USAGE_ERRORS.has(err.code) ? EXIT.BAD_ARGS : err.exitCode);
  });
}

/**
 * A program that reads forkover's flags out of an argv it does not own (`forkover()`
 * called without commander): the app's own flags and arguments, and `--help`, are left
 * to the app, so they are neither errors nor answered here.
 */
export function forkoverProgram(name: string): Command {
  return addForkoverOptions(new (commander().Command)(name)).helpOption(false).allowUnknownOption().allowExcessArguments();
}

function checkPositive(value: unknown, flag: string, fallback: number, integer = false): number {
  if (value === undefined) return fallback;
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new ForkoverError('BAD_OPTION', `${flag} must be a ${integer ? 'whole number' : 'number of seconds'} greater than 0, not ${JSON.stringify(value)}`, { flag });
  }
  return n;
}

function checkNonNegative(value: unknown, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) {
    throw new ForkoverError('BAD_OPTION', `${flag} must be a number of seconds, 0 or more, not ${JSON.stringify(value)}`, { flag });
  }
  return n;
}

function health(value: unknown): { host?: string; port: number } | undefined {
  if (value === undefined || value === null) return undefined;
  const addr = typeof value === 'string' || typeof value === 'number' ? parseHealthAddress(value) : undefined;
  if (addr === undefined) {
    throw new ForkoverError('BAD_OPTION', `--health takes [host:]port, such as 8081 or "127.0.0.1:8081", not ${JSON.stringify(value)}`, { flag: '--health' });
  }
  return addr;
}

function flag(value: unknown, name: string): boolean {
  if (value === undefined || typeof value === 'boolean') return value === true;
  throw new ForkoverError('BAD_OPTION', `${name} is on or off (true or false), not ${JSON.stringify(value)}`, { flag: name });
}

/** A user or group name, or a numeric id; the lookup happens in privileges.ts. */
function account(value: unknown, flag: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  const s = typeof value === 'number' ? String(value) : value;
  if (typeof s !== 'string' || !/^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,31}\$?$/.test(s)) {
    throw new ForkoverError('BAD_OPTION', `${flag} takes a user or group name or a numeric id, not ${JSON.stringify(value)}`, { flag });
  }
  return s;
}

/** The title a script gets when `--name` is not given: its base name, cut to 15 characters. */
export function defaultTitle(script: string | undefined): string {
  return path.basename(script ?? 'node').slice(0, MAX_TITLE_LENGTH) || 'node';
}

/**
 * Check options and resolve them against `cwd`, the directory the user launched from
 * (contracts R1.8). Throws BAD_OPTION naming the flag and the fix.
 */
export function resolveSettings(opts: ForkoverOptions, cwd: string, script: string | undefined): Settings {
  const abs = (p: unknown, flag: string): string | undefined => {
    if (p === undefined || p === null) return undefined;
    if (typeof p !== 'string' || p === '') throw new ForkoverError('BAD_OPTION', `${flag} needs a path`, { flag });
    return path.resolve(cwd, p);
  };
  const name = opts.name ?? defaultTitle(script);
  if (typeof name !== 'string' || name === '' || name.length > MAX_TITLE_LENGTH || /[\s/]/.test(name)) {
    throw new ForkoverError(
      'BAD_OPTION',
      `--name must be 1 to ${MAX_TITLE_LENGTH} characters without spaces or slashes (Linux keeps only 15 in /proc/PID/comm, which init scripts match on), not ${JSON.stringify(name)}`,
      { flag: '--name' },
    );
  }
  const settings: Settings = {
    daemon: opts.daemon === true,
    pidfile: abs(opts.pidfile, '--pidfile'),
    logfile: abs(opts.logfile, '--logfile'),
    name,
    startTimeoutMs: checkPositive(opts.startTimeout, '--start-timeout', DEFAULT_START_TIMEOUT_S) * 1000,
    drainTimeoutMs: checkPositive(opts.drainTimeout, '--drain-timeout', DEFAULT_DRAIN_TIMEOUT_S) * 1000,
    upgradeTimeoutMs: checkPositive(opts.upgradeTimeout, '--upgrade-timeout', DEFAULT_UPGRADE_TIMEOUT_S) * 1000,
    maxDraining: checkPositive(opts.maxDraining, '--max-draining', DEFAULT_MAX_DRAINING, true),
    workers: checkPositive(opts.workers, '--workers', DEFAULT_WORKERS, true),
    standby: flag(opts.standby, '--standby'),
    user: account(opts.user, '--user'),
    group: account(opts.group, '--group'),
    init: flag(opts.init, '--init'),
    stopDelayMs: checkNonNegative(opts.stopDelay, '--stop-delay', DEFAULT_STOP_DELAY_S) * 1000,
    health: health(opts.health),
    cwd,
  };
  if (settings.group !== undefined && settings.user === undefined) {
    throw new ForkoverError('BAD_OPTION', '--group needs --user: forkover only changes the group when it drops root privileges to a user', { flag: '--group' });
  }
  if (settings.daemon && settings.pidfile === undefined) {
    throw new ForkoverError('BAD_OPTION', '--daemon needs -p/--pidfile <path>: without a pidfile nobody could find or stop the daemon', {
      flag: '--pidfile',
    });
  }
  return settings;
}
