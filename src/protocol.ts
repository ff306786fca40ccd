/**
 * forkover's hand-over protocol: what one generation says to another (and to the CLI)
 * across a reload, and which versions of it can talk. A deploy often upgrades forkover
 * along with the app, so the running generation and the one it starts may be different
 * releases; so may a leader and a worker restarted after the deploy, and the sidecar's
 * writer and the `forkover` CLI that reads it.
 *
 * What carries the version:
 *  - the environment of every process forkover starts (`FORKOVER_PROTOCOL`, set by
 *    respawn.ts childEnv): the parent's stamp, for the child to judge before it does
 *    anything (daemon.ts init);
 *  - the readiness channel (readiness.ts): the child's first line is
 *    `PROTOCOL <version> <minPeer> <release>`, before it adopts a socket or writes the
 *    pidfile, for the parent to judge (handoff.ts, detach.ts, workers through handoff.ts);
 *  - the sidecar `<pidfile>.meta` (pidfile.ts): `protocol: { version, minPeer, release }`,
 *    for the CLI, which refuses to act on a sidecar it cannot read (cli.ts).
 * The standby's go line carries the environment above; the PID 1 init's `SERVING` line
 * has no room for a version (init-link.ts): the init and its generations come from the
 * same image, and a container is replaced, not reloaded, to change them.
 *
 * Compatibility: a peer speaks one version and accepts peers from `minPeer` up to its
 * own version. Two peers can hand over, in either direction, when each accepts the
 * other: `a.minPeer <= b.version && b.minPeer <= a.version`. Both sides apply the same
 * rule, so whichever side is older (an upgrade, or a rollback, which is a downgrade),
 * the newer one's `minPeer` decides, and the older one's own rule never lets through
 * what the newer refuses. A release that changes what generations say to each other
 * bumps PROTOCOL_VERSION and keeps understanding the previous version; MIN_PEER_PROTOCOL
 * never rises past the previous minor release's version (README "Upgrading forkover
 * through a reload").
 *
 * A peer that states no version is forkover 0.1.0 up to commit e8509a1, which had none:
 * UNVERSIONED_PROTOCOL (1), what users upgrade from, accepted by this release.
 *
 * Must not: import anything of forkover's but root.ts (its package.json), or do I/O at import.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from './root.js';

/** The protocol version this build speaks. 1 was forkover before versioning (e8509a1). */
export const PROTOCOL_VERSION = 2;

/** The oldest protocol version this build hands over to and takes over from. */
export const MIN_PEER_PROTOCOL = 1;

/** What a peer that states no version speaks: forkover up to e8509a1, whose messages carry none. */
export const UNVERSIONED_PROTOCOL = 1;

/** The variable that carries the parent's stamp to every process forkover starts. */
export const PROTOCOL_ENV = 'FORKOVER_PROTOCOL';

/** The readiness channel's line that carries the child's stamp (readiness.ts). */
export const PROTOCOL_LINE = 'PROTOCOL';

/** One side of a hand-over: the version it speaks, the oldest it accepts, and its release (package version), for messages. */
export interface ProtocolStamp {
  version: number;
  minPeer: number;
  /** forkover's package version, or "unknown". */
  release: string;
}

let release: string | undefined;

/** forkover's own package version, read once from its package.json. */
export function releaseVersion(): string {
  if (release !== undefined) return release;
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version?: unknown };
    release = typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    release = 'unknown';
  }
  return release;
}

/** This build's stamp. */
export function ownStamp(): ProtocolStamp {
  return { version: PROTOCOL_VERSION, minPeer: MIN_PEER_PROTOCOL, release: releaseVersion() };
}

/** The stamp of a peer that states none: forkover up to e8509a1. */
export function unversionedStamp(): ProtocolStamp {
  return { version: UNVERSIONED_PROTOCOL, minPeer: UNVERSIONED_PROTOCOL, release: '0.1.0 (e8509a1 or older)' };
}

/** `<version> <minPeer> <release>`: the value of FORKOVER_PROTOCOL and of the PROTOCOL line. */
export function formatStamp(s: ProtocolStamp): string {
  return `${s.version} ${s.minPeer} ${s.release.replace(/\s+/g, '_')}`;
}

/**
 * Parse `<version> <minPeer> [release]`. Undefined for a missing value (an unversioned
 * peer: the caller uses unversionedStamp()); a value that is present but unreadable
 * gives a stamp no version accepts, so it is refused with what it said rather than
 * taken for protocol 1.
 */
export function parseStamp(text: string | undefined): ProtocolStamp | undefined {
  if (text === undefined) return undefined;
  const [v, m, r] = text.trim().split(/\s+/);
  const version = Number(v);
  const minPeer = Number(m);
  if (!Number.isSafeInteger(version) || !Number.isSafeInteger(minPeer) || version < 1 || minPeer < 1 || minPeer > version) {
    return { version: Number.MAX_SAFE_INTEGER, minPeer: Number.MAX_SAFE_INTEGER, release: `unreadable (${JSON.stringify(text.slice(0, 40))})` };
  }
  return { version, minPeer, release: r ?? 'unknown' };
}

/** A stamp as the sidecar holds it; undefined when absent (an unversioned writer) or malformed. */
export function stampFromJson(value: unknown): ProtocolStamp | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const o = value as Record<string, unknown>;
  if (typeof o.version !== 'number' || typeof o.minPeer !== 'number') return undefined;
  return parseStamp(`${o.version} ${o.minPeer} ${typeof o.release === 'string' ? o.release : 'unknown'}`);
}

/** Whether two peers can hand over, in either direction (see the file comment). */
export function compatible(a: ProtocolStamp, b: ProtocolStamp): boolean {
  return a.minPeer <= b.version && b.minPeer <= a.version;
}

function describeStamp(s: ProtocolStamp): string {
  const range = s.minPeer === s.version ? `protocol ${s.version} only` : `protocols ${s.minPeer} to ${s.version}`;
  return `forkover ${s.release}, hand-over protocol ${s.version} (speaks ${range})`;
}

/**
 * Why the generation `running` (PID `runningPid`) and its successor `next` cannot hand
 * over, naming both versions and what to do; undefined if they can. The same text
 * whichever side finds it, so the log and `forkover reload` say one thing.
 */
export function incompatibility(running: ProtocolStamp, next: ProtocolStamp, pids: { running: number; next?: number | undefined; pidfile?: string | undefined }): string | undefined {
  if (compatible(running, next)) return undefined;
  const newer = next.version > running.version ? 'new' : 'running';
  const stop = pids.pidfile !== undefined ? `"forkover stop -p ${pids.pidfile}"` : 'a stop';
  return (
    `the running generation (PID ${pids.running}: ${describeStamp(running)}) and the new one (${pids.next !== undefined ? `PID ${pids.next}: ` : ''}${describeStamp(next)}) ` +
    `cannot hand over to each other (the ${newer} one no longer speaks the other's protocol), so nothing was changed; ` +
    `to switch between these versions, stop the service and start it again (${stop}, then your usual start), which closes its sockets in between`
  );
}
