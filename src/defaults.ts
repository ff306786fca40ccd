/**
 * Every default forkover uses, as exported constants that `--help`, the README and the
 * JSDoc cite, so the three cannot drift apart.
 *
 * Must not: import anything.
 */

/** How long the launcher waits for the daemon to become ready (`--start-timeout`). */
export const DEFAULT_START_TIMEOUT_S = 60;
/** How long a stopping or replaced generation may take to finish its requests (`--drain-timeout`). */
export const DEFAULT_DRAIN_TIMEOUT_S = 30;
/** How long a new generation has to become ready before it is rolled back (`--upgrade-timeout`). */
export const DEFAULT_UPGRADE_TIMEOUT_S = 60;
/** How many replaced generations may drain at once before a handoff is refused (`--max-draining`). */
export const DEFAULT_MAX_DRAINING = 4;
/**
 * How long a stopping generation keeps accepting and serving, with `/readyz` failing,
 * before it drains (`--stop-delay`): 0 on a host. Under Kubernetes, more than the time
 * the endpoint removal takes to reach every Service and ingress (README "Containers and
 * Kubernetes").
 */
export const DEFAULT_STOP_DELAY_S = 0;
/** After `--stop-delay`, the listener closes once it accepted no connection for this long (drain.ts). */
export const STOP_QUIET_MS = 100;
/** …but no later than this after the delay, however busy it still is. */
export const STOP_QUIET_MAX_MS = 1_000;
/** The listener name of the `--health` endpoint (health.ts); handed over like any other. */
export const HEALTH_LISTENER = 'forkover-health';
/** How long `/healthz` waits for the app's own self-check (`onHealthCheck`) before answering 503. */
export const HEALTH_CHECK_TIMEOUT_MS = 2_000;
/** PID 1 mode: how long a new generation waits for the init to acknowledge it before going on. */
export const INIT_ACK_TIMEOUT_MS = 5_000;
/** PID 1 mode: how long the init waits past --drain-timeout for generations to exit, after the serving one ended. */
export const INIT_EXIT_GRACE_MS = 2_000;
/** How many processes a generation runs, all accepting on the same sockets (`--workers`). */
export const DEFAULT_WORKERS = 1;
/** A crashed worker is restarted after this delay, doubled for each crash in a row (workers.ts). */
export const WORKER_RESTART_MIN_MS = 100;
/** The longest delay before a crashed worker is restarted: the backoff's bound. */
export const WORKER_RESTART_MAX_MS = 10_000;
/** A worker that ran this long before it crashed starts the backoff afresh. */
export const WORKER_STABLE_MS = 30_000;
/** How long a draining leader waits past --drain-timeout for its workers before it SIGKILLs them. */
export const WORKER_EXIT_GRACE_MS = 1_000;
/** How long `forkover stop` waits after SIGTERM before it sends SIGKILL (`--timeout`). */
export const DEFAULT_STOP_TIMEOUT_S = DEFAULT_DRAIN_TIMEOUT_S + 10;
/**
 * What `forkover reload` waits beyond the daemon's own `--upgrade-timeout` (read from its
 * sidecar): the signal's delivery, the spawn, and the outcome's write.
 */
export const RELOAD_MARGIN_S = 10;
/** How long `forkover reload` waits for the outcome of a handoff when the daemon's sidecar does not give its `--upgrade-timeout`. */
export const DEFAULT_RELOAD_TIMEOUT_S = DEFAULT_UPGRADE_TIMEOUT_S + RELOAD_MARGIN_S;
/** The longest process title Linux keeps in /proc/PID/comm (contracts R6.4, R9.7). */
export const MAX_TITLE_LENGTH = 15;
/** The mode of a log file forkover creates (contracts R1.7). */
export const LOG_FILE_MODE = 0o640;
/** The mode of the pidfile and its sidecar (contracts R2.3, R2.8). */
export const PIDFILE_MODE = 0o644;
/** Pidfiles larger than this are not read: no PID needs more than a few bytes. */
export const MAX_PIDFILE_BYTES = 4096;
/**
 * `forkover start`: how long a new generation keeps a handed-over socket that no listen()
 * claimed by ready, for a listen() that comes after ready (Daemon#allowLateListen).
 */
export const LATE_LISTEN_GRACE_MS = 2_000;
