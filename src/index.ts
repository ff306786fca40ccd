/**
 * forkover: make a Node server a classic Unix daemon, and replace it with a new version
 * of itself without dropping a connection. Re-exports only; importing has no effects.
 */
export { forkover, assertSupportedPlatform, type ProgramLike } from './forkover.js';
export { Daemon, type Role, type UpgradeResult, type DrainHook } from './daemon.js';
export { addForkoverOptions, type ForkoverOptions, type Settings } from './options.js';
export type { StatusJson } from './cli.js';
export type { ListenAddress } from './listeners.js';
export { ForkoverError, type ForkoverErrorCode, EXIT, STATUS_EXIT } from './errors.js';
export * from './defaults.js';
export type { DaemonState, HandoffOutcome } from './pidfile.js';
export type { HealthCheck } from './systemd/watchdog.js';
