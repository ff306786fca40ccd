/**
 * The open connections of one server, as the drain needs them: added on accept, gone on
 * 'close', counted and walked only when a drain runs.
 *
 * Why not a Set. A `Set<net.Socket>` with one add and one delete per connection cost a
 * daemon 2-8 % of its throughput on a new connection per request, nearly all of it in
 * V8's scavenger (perf: ScavengeObject 3 % of samples against a plain server's 0.6 %).
 * A/B of 2026-12-04, wrk -t1 -c32 Connection: close, 9 rotating rounds of 3 s per run,
 * medians against a plain server in the same run: the daemon with the Set 0.92-0.98x in
 * six runs of seven (1.02x in one), 41-46 µs of CPU per request against plain's 37-41;
 * with no tracking at all 0.99x (two runs); with this array 0.98-1.04x (three runs),
 * 38-40 µs.
 */
import type * as net from 'node:net';

type Indexed = net.Socket & { [key: symbol]: number | undefined };

export class Connections implements Iterable<net.Socket> {
  private readonly list: Indexed[] = [];
  /** Where a socket sits in `list`; one key per instance, so a socket may be in two. */
  private readonly index = Symbol('forkover.connection');
  /** The 'close' listener of every socket here: one function, not a closure per socket. */
  private readonly forget: (this: net.Socket) => void;

  constructor() {
    const list = this.list;
    const index = this.index;
    this.forget = function (this: net.Socket) {
      const socket = this as Indexed;
      const i = socket[index];
      if (i === undefined || list[i] !== socket) return;
      socket[index] = undefined;
      const last = list.pop() as Indexed;
      if (last !== socket) {
        list[i] = last;
        last[index] = i;
      }
    };
  }

  /** Track `socket` until it emits 'close'. */
  add(socket: net.Socket): void {
    const s = socket as Indexed;
    if (s[this.index] !== undefined) return;
    s[this.index] = this.list.length;
    this.list.push(s);
    socket.on('close', this.forget);
  }

  get size(): number {
    return this.list.length;
  }

  /** A snapshot: a socket that closes while the caller walks it does not shift the walk. */
  [Symbol.iterator](): Iterator<net.Socket> {
    return this.list.slice()[Symbol.iterator]();
  }
}
