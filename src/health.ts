/**
 * `--health <[host:]port>`: the probe endpoint Kubernetes (or any load balancer) asks.
 *  - `GET /healthz` (liveness): 200 while the process runs and, if the app registered its
 *    own self-check (`daemon.onHealthCheck`, the one the systemd watchdog uses), that
 *    check passes within HEALTH_CHECK_TIMEOUT_MS; 503 with the reason otherwise. It stays
 *    200 during a stop: failing it would make the kubelet kill the pod mid-drain.
 *  - `GET /readyz` (readiness): 200 while the generation serves (ready, or handing over);
 *    503 before that and from the moment a stop begins, through `--stop-delay` and the
 *    drain, so that endpoints stop routing here while the delay keeps serving.
 * Anything else gets 404. Answers are `text/plain`, one line.
 *
 * The endpoint is one more listener of the generation (named HEALTH_LISTENER), so a
 * handoff passes it on like the app's own and a probe is never refused either; the new
 * generation answers from the moment it adopts it. Workers do not serve it: the leader
 * speaks for its generation (a worker would still say "ready" during its leader's stop).
 *
 * Must not: know about processes, pidfiles or signals.
 */
import * as http from 'node:http';
import * as net from 'node:net';
import type { Daemon } from './daemon.js';
import { HEALTH_CHECK_TIMEOUT_MS, HEALTH_LISTENER } from './defaults.js';

// `forkover start` (takeover.ts) replaces net.Server#listen once forkover() returned, to
// count the app's own listen() calls; this module is loaded inside forkover(), so this is
// Node's own, and the endpoint's bind and adopt never count as the app's.
const nodeListen = net.Server.prototype.listen;

function answer(res: http.ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`${body}\n`);
}

/** Run the app's self-check under the timeout; resolves to the reason it failed, or undefined. */
async function selfCheck(daemon: Daemon): Promise<string | undefined> {
  const check = daemon.healthCheck;
  if (check === undefined) return undefined;
  const signal = AbortSignal.timeout(HEALTH_CHECK_TIMEOUT_MS);
  try {
    await Promise.race([
      Promise.resolve().then(() => check(signal)),
      new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error(`no answer within ${HEALTH_CHECK_TIMEOUT_MS} ms`)), { once: true })),
    ]);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** Register the health endpoint with `daemon` (before its ready()); returns the server. */
export function serveHealth(daemon: Daemon, address: { host?: string; port: number }): http.Server {
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return answer(res, 405, 'GET only');
    if (url === '/readyz') return daemon.serving ? answer(res, 200, 'ready') : answer(res, 503, 'not ready: starting or stopping');
    if (url === '/healthz') {
      void selfCheck(daemon).then((why) => (why === undefined ? answer(res, 200, 'ok') : answer(res, 503, `unhealthy: ${why}`)));
      return;
    }
    answer(res, 404, 'not found: ask /healthz or /readyz');
  });
  server.listen = nodeListen as typeof server.listen;
  daemon.listen(server, { ...address, name: HEALTH_LISTENER });
  return server;
}
