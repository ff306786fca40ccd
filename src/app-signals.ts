/**
 * An unmodified app's own SIGTERM and SIGINT handlers under `forkover start`.
 *
 * Apps often end with `process.on('SIGTERM', () => { server.close(); process.exit(0) })`.
 * Run as Node runs it, that handler would exit in the middle of forkover's drain and cut
 * the requests still in flight, and `server.close()` closes idle keep-alive connections
 * that a client may be sending on (drain.ts). So from the preload on, the handlers the
 * app registers for these two signals are held here, not given to `process`, and run
 * once the generation has drained: on stop (with the signal that stopped it) and after a
 * handoff (as SIGTERM, the app's last word before the generation exits). Whatever they do
 * then (close a database, `process.exit(0)`) costs no request.
 *
 * `process.listeners('SIGTERM')` does not list held handlers; `off()` and
 * `removeListener()` remove them as usual.
 *
 * Holds the only patch of `process`'s listener methods. Must not: know about servers.
 */
type Held = { listener: (...args: unknown[]) => unknown; once: boolean };
export type HeldSignal = 'SIGTERM' | 'SIGINT';
const HELD: readonly HeldSignal[] = ['SIGTERM', 'SIGINT'];

export interface HeldHandlers {
  /** How many handlers the app registered for `signal` and still holds. */
  count(signal: HeldSignal): number;
  /** Call the app's handlers for `signal` as Node would, and wait for any promise they return. */
  run(signal: HeldSignal): Promise<void>;
}

/** Start holding the app's SIGTERM and SIGINT handlers (see above). */
export function holdAppSignalHandlers(): HeldHandlers {
  const held = new Map<HeldSignal, Held[]>(HELD.map((s) => [s, []]));
  const isHeld = (event: unknown): event is HeldSignal => HELD.includes(event as HeldSignal);
  const proc = process as unknown as Record<string, (event: string | symbol, listener: (...a: unknown[]) => unknown) => NodeJS.Process>;
  const wrap = (method: string, how: 'append' | 'prepend' | 'remove', once = false) => {
    const original = proc[method]!;
    proc[method] = function (this: NodeJS.Process, event, listener) {
      if (!isHeld(event)) return original.call(this, event, listener);
      const list = held.get(event)!;
      if (how === 'remove') {
        const i = list.findIndex((h) => h.listener === listener);
        if (i >= 0) list.splice(i, 1);
      } else if (how === 'prepend') list.unshift({ listener, once });
      else list.push({ listener, once });
      return this;
    };
  };
  wrap('on', 'append');
  wrap('addListener', 'append');
  wrap('once', 'append', true);
  wrap('prependListener', 'prepend');
  wrap('prependOnceListener', 'prepend', true);
  wrap('off', 'remove');
  wrap('removeListener', 'remove');
  return {
    count: (signal) => held.get(signal)!.length,
    async run(signal) {
      const list = held.get(signal)!;
      const now = [...list];
      held.set(signal, list.filter((h) => !h.once));
      const results = now.map((h) => {
        try {
          return h.listener.call(process, signal);
        } catch (err) {
          return Promise.reject(err);
        }
      });
      await Promise.allSettled(results);
    },
  };
}
