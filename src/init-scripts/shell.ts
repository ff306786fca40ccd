/**
 * POSIX sh quoting and the pieces the sh-based renderers (sysv, openrc, logrotate's
 * postrotate) share. How they launch the app and call the forkover CLI is launch.ts.
 *
 * Must not: read or write files (renderers are pure; types.ts).
 */
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
