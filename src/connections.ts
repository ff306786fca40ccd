/**
 * The open connections of one server, as the drain needs them: added on accept, gone on
 * 'close', counted and walked only when a drain runs.
 *
 * Why not a Set. A `Set<net.Socket>` with one add and one delete per connection cost a
 * server 3-5 % of its throughput on a new connection per request (an A/B on one build,
 * wrk -t1 -c32 Connection: close, 9 rotating rounds, the same daemon with the Set and
 * without any tracking: 0.93-0.97x against 0.99x of a plain server, CPU per request
 * 42-43 against 38-40 µs), nearly all of it in V8's scavenger (perf: ScavengeObject 3 %
 * of samples against 0.6 %). The same bookkeeping as an array with swap-remove, each
 * socket holding its own index, measured as no tracking did.
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
