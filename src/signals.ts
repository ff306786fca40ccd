/**
 * Signals to intents, and last-chance cleanup.
 *
 *  - SIGTERM, SIGINT, SIGQUIT → stop (graceful drain; a second one → stop now).
 *  - SIGUSR2, SIGHUP → upgrade (a handoff to a new generation). HUP is an alias, not a
 *    separate "reopen logs": a handoff opens the log afresh anyway (contracts R8.2).
 *  - SIGUSR1 stays with Node's inspector (R9.5).
 * A listener for SIGTERM or SIGINT replaces Node's default exit, so the stop intent must
 * end the process itself (R9.5).
 *
 * In PID 1 mode the resident init (init-process.ts) forwards the stop and upgrade
 * signals to the generation that serves, and reaps on SIGCHLD.
 *
 * Holds the only `process.on('SIG…')` calls of the daemon. Must not: know what
 * "upgrade" or "stop" do.
 */
import { onExit } from 'signal-exit';
import { ForkoverError } from './errors.js';

export type StopSignal = 'SIGTERM' | 'SIGINT' | 'SIGQUIT';
export type UpgradeSignal = 'SIGUSR2' | 'SIGHUP';

export const STOP_SIGNALS: readonly StopSignal[] = ['SIGTERM', 'SIGINT', 'SIGQUIT'];
export const UPGRADE_SIGNALS: readonly UpgradeSignal[] = ['SIGUSR2', 'SIGHUP'];

/** Install the handlers; returns their undo. */
export function onSignals(intents: { stop: (signal: StopSignal) => void; upgrade: (signal: UpgradeSignal) => void }): () => void {
  const removers: (() => void)[] = [];
  for (const sig of STOP_SIGNALS) {
    const h = () => intents.stop(sig);
    process.on(sig, h);
    removers.push(() => process.off(sig, h));
  }
  for (const sig of UPGRADE_SIGNALS) {
    const h = () => intents.upgrade(sig);
    process.on(sig, h);
    removers.push(() => process.off(sig, h));
  }
  return () => removers.forEach((r) => r());
}

/**
 * PID 1 mode: `forward` gets every stop and upgrade signal, `childExited` each SIGCHLD
 * (a child, or an orphan reparented to us, changed state). Returns their undo.
 */
export function onInitSignals(intents: { forward: (signal: StopSignal | UpgradeSignal) => void; childExited: () => void }): () => void {
  const removers: (() => void)[] = [];
  for (const sig of [...STOP_SIGNALS, ...UPGRADE_SIGNALS]) {
    const h = () => intents.forward(sig);
    process.on(sig, h);
    removers.push(() => process.off(sig, h));
  }
  const chld = () => intents.childExited();
  process.on('SIGCHLD', chld);
  removers.push(() => process.off('SIGCHLD', chld));
  return () => removers.forEach((r) => r());
}

/**
 * Refuse to run where Node itself wants SIGUSR2: `--report-on-signal` defaults to it
 * (R9.5), and a handoff signal that writes a diagnostic report instead would be a
 * silently failed reload.
 */
export function checkSignalConflicts(): void {
  const report = process.report as { reportOnSignal?: boolean; signal?: string } | undefined;
  if (report?.reportOnSignal && report.signal === 'SIGUSR2') {
    throw new ForkoverError(
      'BAD_OPTION',
      "Node's --report-on-signal is set to SIGUSR2, which forkover needs for handoffs; add --report-signal=SIGTTIN or drop --report-on-signal",
      { flag: '--report-on-signal' },
    );
  }
}

/**
 * Run `cleanup` synchronously when the process exits for any reason, including a fatal
 * signal nobody else handles (signal-exit). Returns its undo.
 *
 * signal-exit is bundled into forkover's start chunk (scripts/bundle.mjs): loaded from
 * node_modules, by an import() here, it cost every generation 3.4 ms before it could
 * claim the pidfile (median of 15 --daemon starts; issue 13), where resolving the package
 * and reading its two modules cannot overlap anything.
 */
export function onFinalExit(cleanup: () => void): () => void {
  return onExit(() => {
    cleanup();
  });
}
