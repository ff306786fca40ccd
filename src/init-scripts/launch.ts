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
 * Must not: quote (each renderer quotes the words its own way), read or write files.
 */
import * as path from 'node:path';
import type { InitScriptSpec } from './types.js';

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
 * The words that run the forkover CLI. In the start form, and when the app is started by
 * a node binary, with that node (see the file comment). Otherwise the CLI's shebang.
 */
export function forkoverWords(spec: InitScriptSpec): string[] {
  if (spec.start !== undefined) return [spec.start.node, spec.forkoverBin];
  return programIsNode(spec) ? [spec.command[0]!, spec.forkoverBin] : [spec.forkoverBin];
}
