// A bounded HTTP load client for the demo and the benchmarks: `concurrency` loops of GETs
// to a loopback address, stopped by stop(), by maxRequests or by maxMs, whichever first.
// It tells failures apart by kind, because "0 failed" means nothing unless a reset, a
// refusal, a hang and a 5xx would each have been counted.
//
// keepAlive: true uses Node's own http.Agent with keepAlive (the client most Node services
// use; it does not retry). false opens a new connection per request.
//
// onResult(failure, sentAt), if given, is called once per finished request, right after
// the counters moved: failure is null for a 2xx answer or the kind counted, and sentAt the
// performance.now() at which the request was sent (bench/timeline.mjs buckets by both).
import http from 'node:http';

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/** Classify a request error. */
export function failureKind(err) {
  const code = err?.code ?? '';
  if (code === 'ECONNREFUSED') return 'refused';
  if (code === 'ECONNRESET' || code === 'EPIPE' || /socket hang up/.test(err?.message ?? '')) return 'reset';
  if (code === 'ETIMEDOUT' || code === 'ESOCKETTIMEDOUT') return 'timeout';
  return 'other';
}

export function startLoad({
  host = '127.0.0.1',
  port,
  path = '/',
  concurrency = 32,
  keepAlive = false,
  maxRequests = 1_000_000,
  maxMs = 60_000,
  timeoutMs = 10_000,
  onResult = undefined,
} = {}) {
  if (!LOOPBACK.test(host)) throw new Error(`load goes to loopback only, not ${host}`);
  const agent = keepAlive ? new http.Agent({ keepAlive: true, maxSockets: concurrency }) : false;
  const stats = { requests: 0, ok: 0, failed: 0, byKind: { refused: 0, reset: 0, timeout: 0, non2xx: 0, other: 0 }, pids: new Map(), errors: [], elapsedMs: 0 };
  const t0 = Date.now();
  const deadline = t0 + maxMs;
  let stopped = false;
  let issued = 0;

  const one = () =>
    new Promise((resolve) => {
      const sentAt = performance.now();
      const req = http.get({ host, port, path, agent, timeout: timeoutMs }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => {
          if (res.statusCode >= 200 && res.statusCode < 300) {
            stats.ok++;
            const pid = body.trim().split(' ').pop();
            stats.pids.set(pid, (stats.pids.get(pid) ?? 0) + 1);
            onResult?.(null, sentAt);
          } else {
            stats.failed++;
            stats.byKind.non2xx++;
            onResult?.('non2xx', sentAt);
          }
          resolve();
        });
        res.on('error', (err) => fail(err, sentAt, resolve));
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error('request timed out'), { code: 'ETIMEDOUT' })));
      req.on('error', (err) => fail(err, sentAt, resolve));
    });

  function fail(err, sentAt, resolve) {
    const kind = failureKind(err);
    stats.failed++;
    stats.byKind[kind]++;
    if (stats.errors.length < 20) stats.errors.push(`${err.code ?? ''} ${err.message}`.trim());
    onResult?.(kind, sentAt);
    resolve();
  }

  const loop = async () => {
    while (!stopped && issued < maxRequests && Date.now() < deadline) {
      issued++;
      stats.requests++;
      await one();
    }
  };
  const done = Promise.all(Array.from({ length: concurrency }, loop)).then(() => {
    stats.elapsedMs = Date.now() - t0;
    if (agent) agent.destroy();
    return stats;
  });
  return {
    stats,
    done,
    stop() {
      stopped = true;
      return done;
    },
  };
}
