// Measurements a benchmark composes: throughput of several servers in interleaved wrk
// rounds, and the latency of one handoff. The servers themselves come from servers.mjs.
import fs from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { cpuMicros, freshLoopback, logTail, median, readPidfile, wrk } from './servers.mjs';

/**
 * wrk against each of `servers` (`{ id, label, start(host) }`, where start resolves with
 * `{ port, pids, cpuPids?, stop() }`) in `rounds` rounds per mode, each run on a server
 * started afresh on a fresh loopback address (no run meets an earlier one's TIME_WAIT
 * sockets). The order rotates each round (A B C, B C A, C A B, …), so neither drift of
 * the machine nor a place in the order favours one server.
 *
 * Resolves with `{ [mode]: { [id]: { label, rps[], cpuUsPerRequest[], wrkErrors[], median, cpuMedian } } }`
 * for the modes `new` (a new connection per request) and `keepalive`.
 */
export async function interleavedThroughput(servers, { rounds, seconds, connections = 32, log = () => {} }) {
  const out = {};
  for (const newConnection of [true, false]) {
    const mode = newConnection ? 'new' : 'keepalive';
    out[mode] = Object.fromEntries(servers.map((s) => [s.id, { label: s.label, rps: [], cpuUsPerRequest: [], wrkErrors: [] }]));
    for (let round = 0; round < rounds; round++) {
      for (let k = 0; k < servers.length; k++) {
        const s = servers[(round + k) % servers.length];
        const host = freshLoopback();
        const srv = await s.start(host);
        try {
          const cpu0 = cpuMicros(srv.cpuPids ?? srv.pids);
          const w = await wrk(host, srv.port, { seconds, connections, newConnection });
          const cpu = cpuMicros(srv.cpuPids ?? srv.pids) - cpu0;
          const r = out[mode][s.id];
          r.rps.push(w.rps);
          r.cpuUsPerRequest.push(cpu / (w.rps * seconds));
          r.wrkErrors.push({ ...w.errors, non2xx: w.non2xx });
          log(`  ${mode} round ${round + 1} ${s.label} on ${host}: ${w.rps.toFixed(0)} req/s, ${r.cpuUsPerRequest.at(-1).toFixed(1)} µs CPU/request`);
        } finally {
          await srv.stop();
        }
      }
    }
    for (const r of Object.values(out[mode])) {
      r.median = median(r.rps);
      r.cpuMedian = median(r.cpuUsPerRequest);
    }
  }
  return out;
}

/**
 * One handoff of daemon `d` (from startForkover): USR2 to the PID its pidfile names, then
 * poll (2 ms) until the pidfile names another PID, which a new generation writes only once
 * it accepts (contracts R3.3), or the sidecar records that this handoff failed.
 * Resolves with `{ outcome: 'ok', ms }` or `{ outcome, reason }` (`rolled-back`, `refused`, …).
 */
export async function timeHandoff(d, { timeoutMs = 30_000 } = {}) {
  const old = readPidfile(d.pidfile);
  const seqBefore = JSON.parse(fs.readFileSync(`${d.pidfile}.meta`, 'utf8')).handoffSeq;
  const t0 = performance.now();
  process.kill(old, 'SIGUSR2');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = readPidfile(d.pidfile);
    if (now !== undefined && now !== old) return { outcome: 'ok', ms: performance.now() - t0 };
    let meta;
    try {
      meta = JSON.parse(fs.readFileSync(`${d.pidfile}.meta`, 'utf8'));
    } catch {
      meta = undefined; // between writes
    }
    if (meta?.lastHandoff && meta.lastHandoff.seq > seqBefore && meta.lastHandoff.outcome !== 'ok') {
      return { outcome: meta.lastHandoff.outcome, reason: `${meta.lastHandoff.reason}\n${logTail(d.logfile)}` };
    }
    if (Date.now() > deadline) throw new Error(`handoff of PID ${old} had no outcome within ${timeoutMs} ms; see ${d.logfile}:\n${logTail(d.logfile)}`);
    await delay(2);
  }
}
