/**
 * A real AF_UNIX datagram receiver for sd_notify tests (Node has none, R4.7): the
 * python3 fixture binds `address` (a path, or `@name` for the abstract namespace),
 * prints "listening", then one JSON line per datagram with the sender's credentials,
 * as systemd reads them, until `seconds` pass.
 */
import { fixture, start, waitForOutput, waitUntil } from './util.js';

export interface Datagram {
  /** The sender's PID from SCM_CREDENTIALS. */
  pid: number;
  uid: number;
  /** CLOCK_MONOTONIC milliseconds when it arrived. */
  ms: number;
  /** The newline-separated KEY=VALUE fields. */
  fields: string[];
}

export async function notifyReceiver(address: string, seconds = 50) {
  const r = start('/usr/bin/python3', [fixture('notify-receiver.py'), address, String(seconds)], { stdio: ['pipe', 'pipe', 'pipe'] });
  await waitForOutput(r, /^listening$/m);
  const all = (): Datagram[] =>
    r
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Datagram);
  return {
    all,
    /** Wait for `n` datagrams in all; resolves to them. */
    next: (n: number) => waitUntil(() => all().length >= n && all(), 5_000, `${n} datagram(s) at ${address}`),
    /** Wait for the first datagram matching `pred`. */
    waitFor: (pred: (d: Datagram) => boolean, what: string, timeoutMs = 10_000) =>
      waitUntil(() => all().find(pred), timeoutMs, `${what} (got: ${JSON.stringify(all().slice(-5))})`),
  };
}
