/**
 * POSIX sh quoting and the pieces the sh-based renderers (sysv, openrc, logrotate's
 * postrotate) share: how a script calls the forkover CLI, and the app's command line
 * with forkover's own flags appended.
 *
 * Must not: read or write files (renderers are pure; types.ts).
 */
import * as path from 'node:path';
import type { InitScriptSpec } from './types.js';

/** One word for sh: bare when it only holds characters sh never interprets, else single-quoted. */
export function shq(word: string): string {
  if (word !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Escape a string for the inside of sh double quotes. */
export function dqEscape(text: string): string {
  return text.replace(/[\\$`"]/g, '\\$&');
}

/** Whether the app's program is a node binary, which can then run forkover's CLI too. */
export function programIsNode(spec: InitScriptSpec): boolean {
  return /^(node|nodejs)(\d+(\.\d+)*)?$/.test(path.basename(spec.command[0]!));
}

/**
 * The words that run the forkover CLI. With the app's own node when the app is started by
 * a node binary: init systems run scripts with PATH=/sbin:/usr/sbin:/bin:/usr/bin, where
 * `#!/usr/bin/env node` may find no node, or another one. Otherwise the CLI's shebang.
 */
export function forkoverWords(spec: InitScriptSpec): string[] {
  return programIsNode(spec) ? [spec.command[0]!, spec.forkoverBin] : [spec.forkoverBin];
}

/** The flags forkover's privilege drop takes: the app's own `--user`/`--group` (issue 5, R10.4). */
export function userFlags(spec: InitScriptSpec): string[] {
  if (spec.user === undefined) return [];
  return ['--user', spec.user, ...(spec.group !== undefined ? ['--group', spec.group] : [])];
}

/**
 * Directories other services share: a script must never chown or chmod them (checkpath
 * and `install -d` change existing ones), and a file directly in one has no directory
 * of its own for the service user to own.
 */
export const SHARED_DIRS: readonly string[] = ['/', '/run', '/var/run', '/tmp', '/var/tmp', '/var/log'];
