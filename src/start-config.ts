/**
 * What `forkover start` hands to its preload (start.ts) in every process of the daemon:
 * the forkover flags and `--listeners`, in the preload's own URL (`?c=<base64url JSON>`),
 * so that a new generation started by a handoff, a worker or a standby gets the same as
 * the first, without an environment variable the app could see.
 *
 * Must not: do anything when imported (start-command.ts imports it in the CLI).
 */
import { ForkoverError } from './errors.js';
import type { ForkoverOptions } from './options.js';

/** What `forkover start` passes to every process of the daemon. */
export interface StartConfig {
  options: ForkoverOptions;
  /** `--listeners`: how many listen() calls make the generation ready. */
  listeners: number;
}

/** Set while `forkover start` runs this process: the app's own forkover() refuses then. */
export const START_MARK = Symbol.for('forkover.start');

/** The preload's URL (`moduleUrl`, dist/start.js) with `config` in it, for `--import`. */
export function startUrl(moduleUrl: string, config: StartConfig): string {
  const u = new URL(moduleUrl);
  u.search = `c=${Buffer.from(JSON.stringify(config)).toString('base64url')}`;
  return u.href;
}

/** The config in the preload's URL; BAD_OPTION if there is none (someone used --import by hand). */
export function readConfig(url: string): StartConfig {
  const c = new URL(url).searchParams.get('c');
  try {
    const config = JSON.parse(Buffer.from(c ?? '', 'base64url').toString('utf8')) as StartConfig;
    if (typeof config.options === 'object' && Number.isInteger(config.listeners) && config.listeners >= 1) return config;
  } catch {
    // below
  }
  throw new ForkoverError('BAD_OPTION', `${url.split('?')[0]} is forkover start's preload: run the app as "forkover start [flags] -- node app.js", not with --import`);
}

