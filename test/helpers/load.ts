/**
 * Bounded load loops for servers util.ts's load() cannot reach: HTTPS, HTTP on a unix
 * socket, and a raw TCP line protocol (test/fixtures/start/tcp.cjs). Same contract as
 * load(): `concurrency` loops, stopped by `stop()`, `maxRequests` or `maxMs`, whichever
 * first; failures counted by kind; every answer's last word is the PID that served it.
 *
 * Traffic goes to 127.0.0.1 (or ::1 for http) or to a unix socket path only.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import { failureKind } from '../../bench/lib/client.mjs';
import type { LoadStats } from './util.js';

/** What to load: an HTTP(S) server on a loopback port or a unix socket, or a raw TCP line server. */
export type LoadTarget =
  | { kind: 'http'; port: number; host?: '127.0.0.1' | '::1' }
  | { kind: 'https'; port: number; ca: Buffer }
  | { kind: 'unix'; socketPath: string }
  | { kind: 'tcp'; port: number };

export interface LoadOptions {
  concurrency?: number;
  /** Reuse connections (an HTTP Agent with keepAlive; for tcp, one connection per loop). */
  keepAlive?: boolean;
  maxRequests?: number;
  maxMs?: number;
  timeoutMs?: number;
  /**
   * tcp with keepAlive only: a loop ends its connection after this many requests and opens
   * a new one. A raw TCP protocol has no `Connection: close`, so a server cannot end a
   * connection without racing the client's next request; clients that reuse connections
   * bound their life instead (as connection pools with a maximum lifetime do), and a
   * draining generation waits for them.
   */
  requestsPerConnection?: number;
}

export interface LoadRun {
  readonly stats: LoadStats & { byPid: Record<string, number> };
  readonly done: Promise<LoadStats & { byPid: Record<string, number> }>;
  stop(): Promise<LoadStats & { byPid: Record<string, number> }>;
}

const HOST = '127.0.0.1';

/** Start a bounded load loop against `target`. */
export function loadTarget(target: LoadTarget, opts: LoadOptions = {}): LoadRun {
  const concurrency = opts.concurrency ?? 8;
  const keepAlive = opts.keepAlive ?? false;
  const maxRequests = opts.maxRequests ?? 100_000;
  const deadline = Date.now() + (opts.maxMs ?? 30_000);
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const perConnection = opts.requestsPerConnection ?? 20;
  const byKind: Record<string, number> = {};
  const byPid = new Map<string, number>();
  const errors: string[] = [];
  let ok = 0;
  let failed = 0;
  let issued = 0;
  let stopped = false;
  const more = (): boolean => !stopped && issued < maxRequests && Date.now() < deadline;

  const answered = (body: string): void => {
    const pid = body.trim().split(' ').pop() ?? '';
    if (!/^\d+$/.test(pid)) return fail(Object.assign(new Error(`unexpected answer ${JSON.stringify(body)}`), { code: 'EBADANSWER' }));
    ok++;
    byPid.set(pid, (byPid.get(pid) ?? 0) + 1);
  };
  function fail(err: unknown, kind?: string): void {
    failed++;
    const k = kind ?? failureKind(err);
    byKind[k] = (byKind[k] ?? 0) + 1;
    const e = err as { code?: string; message?: string };
    if (errors.length < 20) errors.push(`${e.code ?? ''} ${e.message ?? String(err)}`.trim());
  }

  let loop: () => Promise<void>;
  let agent: http.Agent | undefined;
  if (target.kind === 'tcp') {
    loop = async () => {
      while (more()) {
        const conn = new LineConnection(target.port, timeoutMs);
        try {
          for (let n = 0; n < (keepAlive ? perConnection : 1) && more(); n++) {
            issued++;
            answered(await conn.ask());
          }
        } catch (err) {
          fail(err);
        } finally {
          conn.end();
        }
      }
    };
  } else {
    const mod = target.kind === 'https' ? https : http;
    if (keepAlive) {
      agent = target.kind === 'https' ? new https.Agent({ keepAlive: true, maxSockets: concurrency, ca: target.ca }) : new http.Agent({ keepAlive: true, maxSockets: concurrency });
    }
    const where: http.RequestOptions & https.RequestOptions =
      target.kind === 'unix' ? { socketPath: target.socketPath } : { host: target.kind === 'http' ? (target.host ?? HOST) : HOST, port: target.port, ...(target.kind === 'https' ? { ca: target.ca } : {}) };
    const one = (): Promise<void> =>
      new Promise((resolve) => {
        const req = mod.get({ ...where, path: '/', agent: agent ?? false, timeout: timeoutMs }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => {
            if (res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300) answered(body);
            else fail(new Error(`status ${res.statusCode}`), 'non2xx');
            resolve();
          });
          res.on('error', (err) => {
            fail(err);
            resolve();
          });
        });
        req.on('timeout', () => req.destroy(Object.assign(new Error('request timed out'), { code: 'ETIMEDOUT' })));
        req.on('error', (err) => {
          fail(err);
          resolve();
        });
      });
    loop = async () => {
      while (more()) {
        issued++;
        await one();
      }
    };
  }

  const view = () => ({
    ok,
    failed,
    byKind: { ...byKind },
    pids: new Set(byPid.keys()),
    byPid: Object.fromEntries(byPid),
    errors: errors.slice(0, 10),
  });
  const done = Promise.all(Array.from({ length: concurrency }, loop)).then(() => {
    agent?.destroy();
    return view();
  });
  return {
    get stats() {
      return view();
    },
    done,
    stop() {
      stopped = true;
      return done;
    },
  };
}

/**
 * One client connection of the line protocol: `ask()` sends a line and resolves with the
 * answering line. A connection closed, reset or silent (timeoutMs) before the answer
 * rejects the pending ask with a code failureKind() knows.
 */
class LineConnection {
  private readonly socket: net.Socket;
  private buffered = '';
  private pending: { resolve: (line: string) => void; reject: (err: Error) => void } | undefined;
  private failure: Error | undefined;

  constructor(port: number, timeoutMs: number) {
    this.socket = net.connect({ host: HOST, port });
    this.socket.setEncoding('utf8');
    this.socket.setTimeout(timeoutMs);
    this.socket.on('data', (chunk: string) => {
      this.buffered += chunk;
      const nl = this.buffered.indexOf('\n');
      if (nl < 0 || this.pending === undefined) return;
      const line = this.buffered.slice(0, nl);
      this.buffered = this.buffered.slice(nl + 1);
      const p = this.pending;
      this.pending = undefined;
      p.resolve(line);
    });
    this.socket.on('timeout', () => this.socket.destroy(Object.assign(new Error('request timed out'), { code: 'ETIMEDOUT' })));
    this.socket.on('error', (err) => this.settle(err));
    this.socket.on('close', () => this.settle(Object.assign(new Error('socket hang up: closed before the answer'), { code: 'ECONNRESET' })));
  }

  private settle(err: Error): void {
    this.failure ??= err;
    const p = this.pending;
    this.pending = undefined;
    p?.reject(this.failure);
  }

  ask(): Promise<string> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.socket.write('ping\n');
    });
  }

  /** Half-close (the server ends its side in turn); a broken connection is just destroyed. */
  end(): void {
    if (this.failure !== undefined) this.socket.destroy();
    else this.socket.end();
  }
}
