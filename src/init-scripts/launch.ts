/**
 * How the generated files launch the daemon and run forkover's control CLI, in the two
 * forms `forkover init-script` knows:
 *
 *  - an app written for forkover (it calls `forkover()` and parses forkover's flags):
 *    `<program> <app args…> <forkover flags>`;
 *  - `--start` (issue 14), an app that imports nothing of forkover:
 *    `<node> <forkover.js> start <forkover flags> [<start flags…>] -- <program> <app args…>`.
 *    forkover parses its own flags and never looks at the app's words after `--`.
 *
 * Both give absolute paths only: init systems run services with a minimal PATH
 * (PATH=/sbin:/usr/sbin:/bin:/usr/bin for scripts), where a bare `node`, or the
 * `#!/usr/bin/env node` line of bin/forkover.js, may find no node or another one.
 *
 * Must not: quote the launch (each renderer quotes its words its own way), read or write files.
 */
import * as path from 'node:path';
import type { InitScriptSpec } from './types.js';
import { shq } from './shell.js';

/** The launch as unquoted words: `[program, ...before, ...forkover flags, ...after]`. */
export interface Launch {
  /** The program the init system executes (absolute). */
  program: string;
  /** Words between the program and forkover's flags. */
  before: string[];
  /** Words after forkover's flags. */
  after: string[];
}

/** Whether `program` is a node binary by its name (`node`, `nodejs`, `node22`). */
export function isNodeBinary(program: string): boolean {
  return /^(node|nodejs)(\d+(\.\d+)*)?$/.test(path.basename(program));
}

/** Whether the app's program is a node binary, which can then run forkover's CLI too. */
export function programIsNode(spec: InitScriptSpec): boolean {
  return isNodeBinary(spec.command[0]!);
}

/**
 * The words around the flags forkover's part of the launch takes (`--daemon -p … --name …`):
 * put the renderer's own rendering of those flags between `before` and `after`.
 */
export function launch(spec: InitScriptSpec): Launch {
  const [program, ...args] = spec.command as [string, ...string[]];
  if (spec.start === undefined) return { program, before: args, after: [] };
  // `forkover start` takes its flags before the command; "--" ends them, so an app word
  // such as --name or --port is the app's (start-command.ts).
  return { program: spec.start.node, before: [spec.forkoverBin, 'start'], after: [...spec.start.flags, '--', ...spec.command] };
}

/**
 * The words that run the forkover CLI: always `spec.node` (absolute) then the CLI's
 * path, never the CLI's `#!/usr/bin/env node` line (see the file comment; issue 16.3).
 */
export function forkoverWords(spec: InitScriptSpec): string[] {
  return [spec.node, spec.forkoverBin];
}

/**
 * The comment lines every generated file carries about its absolute paths: which node
 * and which forkover it names, that both were resolved when it was generated, and the
 * command that generates it again after either moves (`prefix` starts each line).
 */
export function regenerateLines(spec: InitScriptSpec, prefix = '# '): string[] {
  return [
    `${prefix}It names node and forkover by the absolute paths they had when it was generated:`,
    `${prefix}  ${spec.node}`,
    `${prefix}  ${spec.forkoverBin}`,
    `${prefix}After moving, reinstalling or upgrading either (nvm, a new npm prefix), generate it`,
    `${prefix}again with the forkover now installed (\`npx --no-install forkover\` in the app):`,
    `${prefix}  ${regenerateCommand(spec)}`,
  ];
}

/**
 * The comment lines of a daemonizing script about its log (issue 16.2): where the app's
 * output goes, why a file, and the command that prints the logrotate snippet for it.
 * `variable` names the script's own line that sets the path.
 */
export function logfileLines(spec: InitScriptSpec, variable: string, prefix = '# '): string[] {
  if (spec.logfile === undefined) throw new TypeError('a daemonizing script needs a log file (index.ts defaultLogfile)');
  return [
    `${prefix}The app's stdout and stderr go to ${variable}, appended by every generation:`,
    spec.logfileDefault
      ? `${prefix}${spec.logfile}, the default (init-script --logfile sets another).`
      : `${prefix}${spec.logfile} (init-script --logfile).`,
    `${prefix}A daemon has no terminal: without a file, its output would be lost. Rotate it`,
    `${prefix}with the snippet this prints (a reload reopens the log; R8.2a):`,
    `${prefix}  ${regenerateCommand({ ...spec, kind: 'logrotate', listen: undefined })}`,
  ];
}

/** `forkover init-script …` with the flags and words that render `spec` again (sh-quoted). */
export function regenerateCommand(spec: InitScriptSpec): string {
  const flags: string[] = [spec.kind, ...(spec.start !== undefined ? ['--start'] : []), '--name', spec.name];
  if (spec.user !== undefined) flags.push('--user', spec.user);
  if (spec.group !== undefined) flags.push('--group', spec.group);
  // The defaults (index.ts defaultPidfile, defaultLogfile) are left out, as a user types it.
  if (spec.pidfile !== `/run/${spec.name}/${spec.name}.pid`) flags.push('--pidfile', spec.pidfile);
  if (spec.logfile !== undefined && spec.logfileDefault !== true) flags.push('--logfile', spec.logfile);
  if (spec.listen !== undefined) flags.push('--listen', spec.listen);
  const words = spec.start !== undefined && spec.start.flags.length > 0 ? [...spec.start.flags, '--', ...spec.command] : spec.command;
  return ['forkover', 'init-script', ...flags, '--', ...words].map(shq).join(' ');
}
