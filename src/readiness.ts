/**
 * The parent↔child channel of both the launcher and a handoff: a socketpair inherited
 * by the child. The child writes one line per event; EOF means the child is gone (or,
 * seen from the child, that the parent is).
 *
 * Lines, child → parent:
 *   `PROTOCOL <v> <min> <release>`  first, before the child changes anything: its
 *                         hand-over protocol (protocol.ts), for the parent to judge;
 *                         absent from forkover up to e8509a1 (protocol 1), and ignored
 *                         by it as a parent, as every unknown line is
 *   `READY <pid> <json>`  listeners bound, pidfile written, privileges dropped (R1.9)
 *   `FAIL <json>`         start-up failed, with the reason, just before the child exits
 * Lines, parent → child:
 *   `MAIN`                the parent has handed over; the child is now the main process
 *   `DROPPED <json>`      the parent, exiting after a handoff, passes on the count of log
 *                         lines it could not write (log.ts), for the child to report
 *
 * Must not: know about either of its users.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { PROTOCOL_LINE, type ProtocolStamp, formatStamp, parseStamp, unversionedStamp } from './protocol.js';

export interface ReadyInfo {
  pid: number;
  listeners: { name: string; address: string }[];
  /** The child's hand-over protocol: its PROTOCOL line, or protocol 1 for a child that sent none. Set by awaitChild. */
  protocol?: ProtocolStamp;
}

export type ChildEvent =
  | { kind: 'ready'; info: ReadyInfo }
  | { kind: 'fail'; reason: string }
  /** The parent's judge found the child's protocol incompatible (protocol.ts). */
  | { kind: 'refused'; reason: string }
  | { kind: 'eof' };

type LineEvent = ChildEvent | { kind: 'protocol'; stamp: ProtocolStamp };

/** Split a stream into lines and hand each to `onLine`; `onEnd` once on EOF or error. */
export function readLines(socket: net.Socket, onLine: (line: string) => void, onEnd: () => void): void {
  let buf = '';
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    onEnd();
  };
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buf += chunk;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      onLine(line);
    }
  });
  socket.on('end', end);
  socket.on('close', end);
  socket.on('error', end);
}

export function parseChildLine(line: string): LineEvent | undefined {
  const sp = line.indexOf(' ');
  const word = sp < 0 ? line : line.slice(0, sp);
  const rest = sp < 0 ? '' : line.slice(sp + 1);
  if (word === PROTOCOL_LINE) return { kind: 'protocol', stamp: parseStamp(rest)! };
  if (word === 'READY') {
    const sp2 = rest.indexOf(' ');
    const pid = Number(sp2 < 0 ? rest : rest.slice(0, sp2));
    let listeners: ReadyInfo['listeners'] = [];
    try {
      listeners = sp2 < 0 ? [] : (JSON.parse(rest.slice(sp2 + 1)) as ReadyInfo['listeners']);
    } catch {
      listeners = [];
    }
    return Number.isInteger(pid) && pid > 0 ? { kind: 'ready', info: { pid, listeners } } : undefined;
  }
  if (word === 'FAIL') {
    try {
      return { kind: 'fail', reason: String(JSON.parse(rest)) };
    } catch {
      return { kind: 'fail', reason: rest };
    }
  }
  return undefined;
}

/**
 * Watch a child's channel until it reports ready, fails, or closes. Resolves with the
 * first decisive event; a FAIL is remembered so the EOF that follows it keeps the reason.
 * `judge` hears the child's protocol (its PROTOCOL line, or protocol 1 if READY comes
 * without one) and returns why it is refused, or undefined: a refusal resolves at once,
 * before the child goes on to adopt a socket or write the pidfile.
 */
export function awaitChild(socket: net.Socket, judge?: (stamp: ProtocolStamp) => string | undefined): Promise<ChildEvent> {
  return new Promise((resolve) => {
    let failed: ChildEvent | undefined;
    let stamp: ProtocolStamp | undefined;
    let done = false;
    const finish = (ev: ChildEvent) => {
      if (done) return;
      done = true;
      resolve(ev);
    };
    const refused = (s: ProtocolStamp): boolean => {
      const why = judge?.(s);
      if (why !== undefined) finish({ kind: 'refused', reason: why });
      return why !== undefined;
    };
    readLines(
      socket,
      (line) => {
        if (done) return;
        const ev = parseChildLine(line);
        if (ev?.kind === 'protocol') {
          stamp ??= ev.stamp;
          refused(stamp);
        }
        if (ev?.kind === 'ready') {
          stamp ??= unversionedStamp();
          if (!refused(stamp)) finish({ kind: 'ready', info: { ...ev.info, protocol: stamp } });
        }
        if (ev?.kind === 'fail') failed ??= ev;
      },
      () => finish(failed ?? { kind: 'eof' }),
    );
  });
}

/** The child's end of the channel, on an inherited fd. */
export class ParentChannel {
  private socket: net.Socket | undefined;
  private closed = false;

  constructor(readonly fd: number) {}

  /**
   * Start reading, so EOF (the parent is gone) and `MAIN` reach us. The socket is
   * unref'd: the channel must never keep a daemon alive.
   */
  open(handlers: { onEnd?: () => void; onMain?: () => void; onDropped?: (record: unknown) => void }): void {
    if (this.socket || this.closed) return;
    const socket = new net.Socket({ fd: this.fd, readable: true, writable: true });
    socket.unref();
    this.socket = socket;
    readLines(
      socket,
      (line) => {
        if (line === 'MAIN') handlers.onMain?.();
        else if (line.startsWith('DROPPED ')) {
          try {
            handlers.onDropped?.(JSON.parse(line.slice('DROPPED '.length)));
          } catch {
            // not JSON: nothing to take on
          }
        }
      },
      () => {
        this.closed = true;
        handlers.onEnd?.();
      },
    );
  }

  /**
   * Write a line synchronously: it must get out even from an exit handler or an
   * uncaught-exception monitor, where nothing asynchronous runs any more.
   */
  sendSync(line: string): boolean {
    if (this.closed) return false;
    try {
      fs.writeSync(this.fd, `${line}\n`);
      return true;
    } catch {
      return false;
    }
  }

  /** The first line, before anything changes: this build's protocol (protocol.ts). */
  protocol(stamp: ProtocolStamp): boolean {
    return this.sendSync(`${PROTOCOL_LINE} ${formatStamp(stamp)}`);
  }

  ready(info: ReadyInfo): boolean {
    return this.sendSync(`READY ${info.pid} ${JSON.stringify(info.listeners)}`);
  }

  fail(reason: string): boolean {
    return this.sendSync(`FAIL ${JSON.stringify(reason)}`);
  }
}
