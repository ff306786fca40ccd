/**
 * A generation's end of PID 1 mode (init-process.ts is the other end): the line it
 * sends the resident init once it serves, so that the init signals the right process.
 *
 * Protocol, on a stream connection to the init's abstract unix socket (FORKOVER_INIT,
 * which each generation passes on to its successor): the generation sends
 * `SERVING <pid>\n` once it accepts connections and the pidfile names it; the init
 * answers `OK\n` once USR2/HUP/TERM go to that PID. The connection stays open until the
 * generation exits, unref'd.
 *
 * Why wait for the answer: the new generation tells its parent READY only after this, so
 * the init names the new generation strictly before the old one stops (the rule R3.3
 * sets for the pidfile). A SIGTERM in between would otherwise go to a generation that is
 * already draining.
 *
 * Must not: know about the Daemon, signals or listeners.
 */
import * as net from 'node:net';
import { INIT_ACK_TIMEOUT_MS } from './defaults.js';

/** A connection to the init; `serving()` reports this process. */
export class InitLink {
  private buffered = '';
  private waiting: ((line: string | undefined) => void) | undefined;
  private closed = false;

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffered += chunk;
      const i = this.buffered.indexOf('\n');
      if (i >= 0 && this.waiting) {
        const line = this.buffered.slice(0, i);
        this.buffered = this.buffered.slice(i + 1);
        this.waiting(line);
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.waiting?.(undefined);
    });
    socket.unref();
  }

  /** Connect to the init's socket (an abstract name, without its leading NUL). */
  static connect(name: string): InitLink {
    return new InitLink(net.connect({ path: `\0${name}` }));
  }

  /**
   * Tell the init this process serves now; resolves once it answered, or with the reason
   * it did not within INIT_ACK_TIMEOUT_MS (the caller logs it and goes on serving).
   */
  serving(pid: number = process.pid): Promise<string | undefined> {
    if (this.closed) return Promise.resolve('the connection to the init closed');
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(`the init did not answer within ${INIT_ACK_TIMEOUT_MS} ms`), INIT_ACK_TIMEOUT_MS);
      const finish = (why: string | undefined) => {
        clearTimeout(timer);
        this.waiting = undefined;
        resolve(why);
      };
      this.waiting = (line) => finish(line === 'OK' ? undefined : line === undefined ? 'the connection to the init closed' : `the init answered ${JSON.stringify(line)}`);
      this.socket.write(`SERVING ${pid}\n`);
    });
  }
}
