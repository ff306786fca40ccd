/**
 * `forkover start [forkover flags] -- <command…>`: run an app that knows nothing of
 * forkover as a forkover daemon. The command is a Node program, `node [node options]
 * script [args]`, or a script run with this Node.
 *
 * The app runs with start.ts preloaded, which takes over its listen() calls. When the
 * command's Node is this one and it has no Node options, the app runs in this very
 * process (`Module.runMain`, as `node script` would), so in the foreground its PID is
 * the one that systemd or a container started, and with --daemon this process is the
 * launcher. Otherwise, with --daemon, a launcher is spawned with the command's Node and
 * options; in the foreground that needs `process.execve` (Node ≥ 22.15).
 *
 * Must not: print for the control CLI (cli.ts does) or know what the preload does.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { ForkoverError } from './errors.js';
import { type ForkoverOptions, resolveSettings } from './options.js';
import { startUrl, type StartConfig } from './start-config.js';
import { packageRoot } from './root.js';

/** The app's command line, taken apart. */
export interface AppCommand {
  /** The Node binary, as given (a bare name is found on PATH). */
  node: string;
  /** Node's own options, before the script. */
  nodeArgs: string[];
  /** The script, absolute. */
  script: string;
  args: string[];
}

/** Node options whose value is the next argument (the rest take `=value` or nothing). */
const TAKES_VALUE = new Set(['-r', '--require', '--import', '--loader', '--experimental-loader', '-C', '--conditions', '--input-type', '--title', '--env-file', '--inspect-port']);
const NOT_A_SCRIPT = new Set(['-e', '--eval', '-p', '--print', '-', '-i', '--interactive', '--test', '--run']);

function isNodeBinary(arg: string): boolean {
  return /^(node|nodejs)(\d+(\.\d+)*)?$/.test(path.basename(arg)) || arg === process.execPath;
}

/** Find `name` on PATH (as spawn would), or undefined. */
function onPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  if (name.includes('/')) return name;
  for (const dir of (env.PATH ?? '').split(':')) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  return undefined;
}

const USAGE = 'forkover start [forkover flags] -- node [node options] app.js [app args]';

/** Take the command apart; BAD_OPTION naming the fix when it is not a Node program. */
export function parseAppCommand(command: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): AppCommand {
  if (command.length === 0) throw new ForkoverError('BAD_OPTION', `forkover start needs the app's command: ${USAGE}`);
  let node = process.execPath;
  let i = 0;
  const nodeArgs: string[] = [];
  if (isNodeBinary(command[0]!)) {
    const found = onPath(command[0]!, env);
    if (found === undefined) throw new ForkoverError('BAD_OPTION', `${command[0]} is not on PATH; give the Node binary's absolute path`);
    node = path.resolve(cwd, found);
    for (i = 1; i < command.length && command[i]!.startsWith('-'); i++) {
      const a = command[i]!;
      if (NOT_A_SCRIPT.has(a.split('=')[0]!)) {
        throw new ForkoverError('BAD_OPTION', `forkover start runs a script file, and Node's ${a} runs none; put the code in a file: ${USAGE}`);
      }
      nodeArgs.push(a);
      if (TAKES_VALUE.has(a) && i + 1 < command.length) nodeArgs.push(command[++i]!);
    }
  }
  const script = command[i];
  if (script === undefined) throw new ForkoverError('BAD_OPTION', `the command names no script to run: ${USAGE}`);
  const abs = path.resolve(cwd, script);
  let st: fs.Stats;
  try {
    st = fs.statSync(abs);
  } catch {
    throw new ForkoverError('BAD_OPTION', `the app's script ${abs} does not exist; give its path (relative to ${cwd} or absolute): ${USAGE}`);
  }
  if (!st.isFile()) throw new ForkoverError('BAD_OPTION', `the app's script ${abs} is not a file: ${USAGE}`);
  return { node, nodeArgs, script: abs, args: command.slice(i + 1) };
}

/** `--listeners`: a whole number of at least 1. */
function listenerCount(value: unknown): number {
  const n = value === undefined ? 1 : Number(value);
  if (!Number.isInteger(n) || n < 1) throw new ForkoverError('BAD_OPTION', `--listeners takes a whole number of at least 1, not ${JSON.stringify(value)}`, { flag: '--listeners' });
  return n;
}

function sameFile(a: string, b: string): boolean {
  try {
    return fs.realpathSync(a) === fs.realpathSync(b);
  } catch {
    return false;
  }
}

/**
 * Run `forkover start`. Resolves to an exit code when this process is only a launcher's
 * parent; to undefined when the app now runs in this process and its exit is its own.
 */
export async function runStart(opts: ForkoverOptions & { listeners?: unknown }, command: string[], cwd: string): Promise<number | undefined> {
  const app = parseAppCommand(command, cwd);
  const { listeners, ...rest } = opts;
  // Checked here, so that a bad flag fails before anything starts (and again, the same
  // way, in each process the preload starts).
  const options: ForkoverOptions = {
    ...rest,
    ...(rest.pidfile !== undefined ? { pidfile: path.resolve(cwd, rest.pidfile) } : {}),
    ...(rest.logfile !== undefined ? { logfile: path.resolve(cwd, rest.logfile) } : {}),
  };
  resolveSettings(options, cwd, app.script);
  const config: StartConfig = { options, listeners: listenerCount(listeners) };
  const url = startUrl(pathToFileURL(path.join(packageRoot(), 'dist', 'start.js')).href, config);
  if (sameFile(app.node, process.execPath) && app.nodeArgs.length === 0) {
    process.argv = [process.execPath, app.script, ...app.args];
    await import(url);
    const { default: Module } = (await import('node:module')) as unknown as { default: { runMain: (main?: string) => void } };
    Module.runMain(app.script);
    return undefined;
  }
  const argv = ['--import', url, ...app.nodeArgs, app.script, ...app.args];
  if (options.daemon === true) {
    // This Node cannot become the command's: a launcher with the command's Node and options.
    const child = spawn(app.node, argv, { stdio: 'inherit' });
    return new Promise((resolve) => {
      child.once('error', (err) => {
        process.stderr.write(`forkover start: cannot run ${app.node}: ${err.message}\n`);
        resolve(1);
      });
      child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
    });
  }
  const execve = (process as unknown as { execve?: (file: string, args: string[], env: NodeJS.ProcessEnv) => never }).execve;
  if (execve === undefined) {
    throw new ForkoverError(
      'BAD_OPTION',
      `in the foreground, forkover start runs the app in its own process, which can take ${app.nodeArgs.length > 0 ? `Node options (${app.nodeArgs.join(' ')})` : `another Node binary (${app.node})`} only with Node ≥ 22.15's process.execve; run forkover itself with that Node, put the options in NODE_OPTIONS, or add --daemon`,
    );
  }
  execve.call(process, app.node, [app.node, ...argv], process.env);
}
