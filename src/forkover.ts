/**
 * `forkover()`: the entry point an app calls once, before it builds its servers.
 *
 * Depending on how the process was started it becomes:
 *  - the launcher (`--daemon`, started by a user or init): it starts the daemon, waits
 *    for it to be ready and exits, so the promise never resolves;
 *  - the daemon or a handoff's new generation (started by forkover): it resolves to the
 *    Daemon for this generation;
 *  - a foreground server (no `--daemon`): the same;
 *  - as PID 1, or with `--init`: the resident init (init-process.ts), which runs the
 *    generations as its children; its promise never resolves either.
 *
 * Start-up failures are fatal by design: they are printed (and reported to the waiting
 * launcher or old generation) and the process exits 1, leaving no pidfile behind.
 */
// The launcher's code, static although only a launcher runs it: inside the bundle's start
// chunk it costs a generation about 0.2 ms to parse, while an import() of its own chunk
// cost the launcher, which every --daemon start waits for, 1 to 3 ms (issue 13).
import { launch } from './detach.js';
import { EXIT, ForkoverError, describe } from './errors.js';
import { type ForkoverOptions, type Settings, commander, forkoverProgram, resolveSettings } from './options.js';
import { ENV } from './respawn.js';
import { START_MARK } from './start-config.js';
import { Daemon, type Role } from './daemon.js';
import { log } from './log.js';
import { listenFds } from './systemd/activation.js';
import type { InheritedFd } from './listeners.js';

/** Throws UNSUPPORTED_PLATFORM where forkover cannot work (Windows: no fd passing, no signals). */
export function assertSupportedPlatform(platform: NodeJS.Platform = process.platform): void {
  if (platform === 'win32') {
    throw new ForkoverError(
      'UNSUPPORTED_PLATFORM',
      'forkover needs POSIX signals and file-descriptor passing, which Windows lacks; run the server without forkover there, or under WSL',
    );
  }
}

function fromArgv(argv: string[], title: string): ForkoverOptions {
  const program = forkoverProgram(title).exitOverride().configureOutput({ writeErr: () => {}, writeOut: (s) => process.stdout.write(s) });
  try {
    program.parse(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof commander().CommanderError) {
      if (err.exitCode === 0) process.exit(0); // --help, --version
      process.stderr.write(`${title}: ${err.message.replace(/^error: /, '')}\n`);
      process.exit(EXIT.BAD_ARGS);
    }
    throw err;
  }
  return program.opts<ForkoverOptions>();
}

/** A commander program of any copy or major: what forkover reads of it. */
export interface ProgramLike {
  opts(): object;
}

/**
 * What `forkover(input)` was given, as options. A commander program is known by its
 * shape (an `opts()` method), not by class: the app's commander may be another copy or
 * major than ours (npm link, a monorepo, commander 12), and `instanceof` fails then.
 */
function optionsOf(input: unknown): ForkoverOptions | undefined {
  if (input === undefined) return undefined;
  if (input !== null && typeof input === 'object' && !Array.isArray(input)) {
    const opts = (input as { opts?: unknown }).opts;
    if (typeof opts === 'function') {
      const read: unknown = opts.call(input);
      if (read !== null && typeof read === 'object') return read as ForkoverOptions;
      throw new ForkoverError('BAD_OPTION', `forkover(program): program.opts() returned ${JSON.stringify(read)}, not an object; pass the commander program after program.parse()`);
    }
    return input as ForkoverOptions;
  }
  throw new ForkoverError(
    'BAD_OPTION',
    `forkover() takes the app's commander program (after parse()), an options object such as { daemon: true, pidfile: '/run/app.pid' }, or nothing; not ${input === null ? 'null' : Array.isArray(input) ? 'an array' : `a ${typeof input} (${String(input).slice(0, 40)})`}`,
  );
}

/**
 * Set up forkover for this process. Pass the app's commander program (after `parse()`,
 * with `addForkoverOptions()`), an options object, or nothing to parse `process.argv`
 * for forkover's flags alone.
 */
export async function forkover(input?: ProgramLike | ForkoverOptions): Promise<Daemon> {
  const script = process.argv[1];
  const role = (process.env[ENV.ROLE] as Role | undefined) ?? 'foreground';
  let settings: Settings;
  try {
    assertSupportedPlatform();
    if ((globalThis as Record<symbol, unknown>)[START_MARK] === true) {
      throw new ForkoverError(
        'BAD_OPTION',
        'this app calls forkover() itself, so it is a forkover app already: run it as "node app.js --daemon -p …" with its own flags, not under "forkover start"',
      );
    }
    const opts = optionsOf(input) ?? fromArgv(process.argv.slice(2), 'forkover');
    settings = resolveSettings(opts, process.env[ENV.CWD] ?? process.cwd(), script);
  } catch (err) {
    process.stderr.write(`${script ? script.split('/').pop() : 'forkover'}: ${describe(err)}\n`);
    process.exit(err instanceof ForkoverError && err.code === 'BAD_OPTION' ? EXIT.BAD_ARGS : EXIT.FAILURE);
  }
  // PID 1 mode: only the process the container (or the user, with --init) started.
  if (process.env[ENV.ROLE] === undefined && (settings.init || process.pid === 1)) {
    const { loadReaper, runInit } = await import('./init-process.js');
    const reaper = loadReaper();
    if (reaper.mod !== undefined) {
      if (settings.daemon) log('--daemon ignored: in PID 1 mode this process stays, and runs the generations as its children');
      process.exit(await runInit(settings, reaper.mod));
    }
    if (settings.init) {
      process.stderr.write(`${script ? script.split('/').pop() : 'forkover'}: --init: ${reaper.error}\n`);
      process.exit(EXIT.FAILURE);
    }
    log(`warning: ${reaper.error}; running the app as PID 1 itself, which cannot hand over`);
  }
  // Socket activation (contracts §5): only a process systemd started itself (a launcher
  // or a foreground server) can be activated; LISTEN_* are read and removed here (R5.1).
  let activated: InheritedFd[] = [];
  if (process.env[ENV.ROLE] === undefined) {
    try {
      activated = listenFds(process.env, process.pid);
    } catch (err) {
      process.stderr.write(`${script ? script.split('/').pop() : 'forkover'}: ${describe(err)}\n`);
      process.exit(EXIT.FAILURE);
    }
  }
  if (settings.daemon && process.env[ENV.ROLE] === undefined) {
    const code = await launch(settings, {
      out: (line) => process.stdout.write(`${line}\n`),
      err: (line) => process.stderr.write(`${line}\n`),
    }, activated); // R5.3: the daemon gets them at the same fds 3…
    process.exit(code);
  }
  // In the foreground the activated sockets are already at fds 3…: describe them the way
  // a parent describes the listeners it hands over, and Daemon.init() takes them in.
  if (activated.length > 0) process.env[ENV.FDS] = JSON.stringify(activated.map((a) => a.name));
  const daemon = new Daemon(settings, role);
  try {
    await daemon.init(process.env);
  } catch (err) {
    daemon.fatal(err);
  }
  if (daemon.role === 'child') log(`generation started by PID ${process.ppid} for a handoff`);
  // --health: one more listener, handed over with the others; workers do not serve it.
  if (settings.health !== undefined && daemon.role !== 'worker') {
    const { serveHealth } = await import('./health.js');
    serveHealth(daemon, settings.health);
  }
  return daemon;
}
