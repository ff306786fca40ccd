/**
 * The preload of `forkover start -- node app.js` (start-command.ts): it runs before the
 * app's main module in every process of the daemon (launcher, generations, workers,
 * standbys), as `node --import <this file>?c=<config> app.js`, and makes an app that
 * knows nothing of forkover a forkover daemon:
 *
 *  1. `forkover()` with the flags given to `forkover start` (carried in this module's
 *     URL, so every later generation gets the same). In the launcher that starts the
 *     daemon and exits: the app's code never runs there.
 *  2. The app's `listen()` calls register its servers (takeover.ts); once `--listeners`
 *     of them did, the generation is ready.
 *  3. The app's SIGTERM/SIGINT handlers run after the drain (app-signals.ts).
 *  4. An app that exits, or that has not listened on every expected listener when the
 *     start deadline is near, fails the start with a message that names `--listeners`.
 *
 * Our own `--import` is taken out of process.execArgv (the app's fork() and cluster
 * children must not become forkover daemons) and given to respawn.ts instead.
 */
import { forkover } from './forkover.js';
import { START_MARK, type StartConfig, readConfig } from './start-config.js';
import { preloadInEveryGeneration } from './respawn.js';
import { takeOverListen } from './takeover.js';
import { holdAppSignalHandlers, type HeldSignal } from './app-signals.js';
import { log } from './log.js';
import { ForkoverError } from './errors.js';

function stripOwnImport(url: string): void {
  const i = process.execArgv.findIndex((a, k) => (a === '--import' && process.execArgv[k + 1] === url) || a === `--import=${url}`);
  if (i >= 0) process.execArgv.splice(i, process.execArgv[i] === '--import' ? 2 : 1);
}

const url = import.meta.url;
let config: StartConfig;
try {
  config = readConfig(url);
} catch (err) {
  process.stderr.write(`forkover: ${(err as Error).message}\n`);
  process.exit(2);
}
stripOwnImport(url);
preloadInEveryGeneration(url);
const daemon = await forkover(config.options);
(globalThis as Record<symbol, unknown>)[START_MARK] = true;
let stoppedBy: HeldSignal = 'SIGTERM';
process.on('SIGINT', () => (stoppedBy = 'SIGINT')); // before holdAppSignalHandlers(), or it would be held
const takeover = takeOverListen(daemon, config.listeners);
const held = holdAppSignalHandlers();
daemon.onDrain(async ({ reason }) => {
  // Once every taken-over server has closed (drained or forced at the deadline), the
  // app's handlers run: they may exit, which then costs nothing.
  await Promise.all(takeover.servers.map((s) => (s.listening ? new Promise((resolve) => s.once('close', resolve)) : undefined)));
  const signal = reason === 'stop' ? stoppedBy : 'SIGTERM';
  if (held.count(signal) > 0) log(`drained: running the app's own ${signal} handler(s)`);
  await held.run(signal);
});

const expected = `${config.listeners} listener${config.listeners === 1 ? '' : 's'} (--listeners ${config.listeners})`;
const timeoutMs = daemon.hasParent ? daemon.settings.upgradeTimeoutMs : daemon.settings.startTimeoutMs;
let started = false;
void takeover.ready.then(() => (started = true));
const why = () =>
  takeover.servers.length >= config.listeners
    ? // Every listen() came, so --listeners is not the cause: a bind failed, or the app stopped or stalled on its own.
      `the app called listen() for each of the expected ${expected}, so that is not the cause; see the lines above for why the generation was not ready (a listen that failed to bind says so there)`
    : `the app listened on ${takeover.servers.length} of the expected ${expected}; ` +
      'if it serves fewer sockets, start it with that --listeners, otherwise see its output above for why it did not listen';
// Before the launcher's or the old generation's own deadline, so the reason is ours. That
// deadline started before this process did: Node's own start-up counts against it.
const margin = Math.min(1000, timeoutMs / 4);
const early = setTimeout(() => {
  if (!started) daemon.fatal(new ForkoverError('BAD_OPTION', `not ready after ${Math.round(timeoutMs / 100) / 10} s: ${why()}`));
}, Math.max(0, timeoutMs - margin - process.uptime() * 1000));
early.unref();
process.on('exit', (code) => {
  if (!started) log(`the app exited (code ${code}) before it was ready: ${why()}`);
});
