/**
 * How long each generated script lets a stop take before SIGKILL. A stopping daemon
 * keeps serving for `--stop-delay`, then drains for up to `--drain-timeout` and exits by
 * itself (R3.6); a KILL at that same moment would race a full drain (issue 16.7: the
 * sysv script once sent KILL after 30 s, the default drain). So every stop waits the
 * app's own drain plus the margin `forkover stop` keeps by default (DEFAULT_STOP_TIMEOUT_S
 * is DEFAULT_DRAIN_TIMEOUT_S + 10): with the defaults, 40 s, then SIGKILL.
 *
 * Must not: read or write files, or know any init system's syntax (the renderers do).
 */
import { DEFAULT_DRAIN_TIMEOUT_S, DEFAULT_STOP_TIMEOUT_S } from '../defaults.js';
import type { InitScriptSpec } from './types.js';

/** Seconds between the end of the app's drain and the SIGKILL: `forkover stop`'s own margin. */
export const STOP_MARGIN_S = DEFAULT_STOP_TIMEOUT_S - DEFAULT_DRAIN_TIMEOUT_S;
/** After SIGKILL, how long start-stop-daemon (`/KILL/5`) and `forkover stop` wait for the exit. */
export const KILL_WAIT_S = 5;
/** systemd's TimeoutStopSec= is this much above `forkover stop --timeout`, so ExecStop= ends first. */
export const SYSTEMD_STOP_MARGIN_S = 10;

export interface StopDeadlines {
  /** The app's longest clean stop: `--stop-delay` + `--drain-timeout`, rounded up. */
  drainS: number;
  /** SIGTERM → SIGKILL: `forkover stop --timeout`, start-stop-daemon's `TERM/<this>`. */
  termS: number;
  /** start-stop-daemon's `--retry` / OpenRC's `retry`: `TERM/<termS>/KILL/5`. */
  retry: string;
  /** systemd's `TimeoutStopSec=`: above ExecStop='s own bound (`termS` + KILL_WAIT_S). */
  timeoutStopSec: number;
}

/** The deadlines of `spec`'s stop. Whole seconds: start-stop-daemon takes no fractions. */
export function stopDeadlines(spec: Pick<InitScriptSpec, 'drainS'>): StopDeadlines {
  const drainS = Math.ceil(spec.drainS ?? DEFAULT_DRAIN_TIMEOUT_S);
  const termS = drainS + STOP_MARGIN_S;
  return { drainS, termS, retry: `TERM/${termS}/KILL/${KILL_WAIT_S}`, timeoutStopSec: termS + SYSTEMD_STOP_MARGIN_S };
}
