#!/usr/bin/env node
// bench/handoff (issue 3 item 10): handoffs under load, in both load modes.
//
//   node bench/handoff.mjs [--seconds 12] [--handoffs 20] [--workers 1] [--standby off|on|both] [--app options|hello] [--quick] [--json FILE]
//
// Each mode runs twice by default: the default cold start (the new generation is a new
// Node process, started at the signal) and `--standby` (its Node was started ahead of the
// signal and waits in its preload; src/standby.ts).
//
// For each mode (a new connection per request; keep-alive through Node's own Agent) it
// daemonizes the app on a fresh loopback address (--app options, the default:
// bench/servers/options.mjs, plain.mjs's server with forkover and nothing else, so a
// handoff is timed against the same server started bare; --app hello: examples/hello.js,
// which also loads commander for its flags), runs the bounded Node client
// (bench/lib/client.mjs) at concurrency 32 for --seconds, and sends USR2 --handoffs
// times, spread over the run. Handoff latency is measured from the signal to the pidfile
// naming the new generation, which a new generation writes only once it accepts
// (contracts R3.3). Between handoffs it starts a bare `node` HTTP server
// (bench/servers/plain.mjs) and times spawn to listening: the baseline, measured in the
// same run under the same load. Prints requests, failures by kind, handoff p50/max and
// the baseline; exits 1 if any request failed.
import fs from 'node:fs';
import path from 'node:path';
import { startLoad } from './lib/client.mjs';
import { timeHandoff } from './lib/measure.mjs';
import { FAILED_COLUMN, cliArg, failedCell, freshLoopback, killAll, machine, markdownTable, median, reexecUnderSubreaper, requireTools, snapshotBuild, spreadOver, startForkover, startPlain } from './lib/servers.mjs';

/** --app: which startForkover() form runs, and its name in the output. */
const APPS = { options: { form: 'options', label: 'options.mjs' }, hello: { form: 'library', label: 'examples/hello.js' } };

/** Run both modes; resolves with one result per mode. */
export async function handoffBench({ seconds = 12, handoffs = 20, workers = 1, standby = false, app = 'options', log = (s) => process.stderr.write(`${s}\n`) } = {}) {
  const form = APPS[app]?.form;
  if (form === undefined) throw new TypeError(`handoffBench: app is ${Object.keys(APPS).join(' or ')}, not ${JSON.stringify(app)}`);
  const results = [];
  for (const keepAlive of [false, true]) {
    const mode = keepAlive ? 'keep-alive' : 'new connection per request';
    const host = freshLoopback();
    // Each handoff leaves a draining generation; allow enough of them for the pace here.
    const d = await startForkover(host, { workers, form, extra: ['--max-draining', '64', '--drain-timeout', '10', ...(standby ? ['--standby'] : [])] });
    const load = startLoad({ host, port: d.port, concurrency: 32, keepAlive, maxMs: seconds * 1000 + 60_000 });
    const latencies = [];
    const bare = [];
    const outcomes = { ok: 0, 'rolled-back': 0, refused: 0, ignored: 0 };
    await spreadOver(seconds * 1000, handoffs, async (i) => {
      // USR2, then the pidfile naming a new PID, or the sidecar recording a failure (measure.mjs).
      const h = await timeHandoff(d);
      if (h.outcome === 'ok') latencies.push(h.ms);
      else log(`  handoff ${i + 1}: ${h.outcome}: ${h.reason}`);
      const outcome = h.outcome;
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      // The baseline, under the same load: a bare node server from spawn to listening.
      const p = await startPlain(host);
      bare.push(p.startMs);
      await p.stop();
    });
    const stats = await load.stop();
    await d.stop();
    const r = {
      mode,
      app,
      start: standby ? '--standby' : 'cold',
      workers,
      seconds: Math.round(stats.elapsedMs / 100) / 10,
      requests: stats.requests,
      ok: stats.ok,
      failed: stats.failed,
      failures: stats.byKind,
      errors: stats.errors.slice(0, 5),
      handoffs: outcomes,
      handoffMs: { p50: median(latencies), max: Math.max(...latencies), n: latencies.length },
      bareStartMs: { p50: median(bare), max: Math.max(...bare), n: bare.length },
    };
    r.ratio = r.handoffMs.p50 / r.bareStartMs.p50;
    results.push(r);
    log(
      `  ${APPS[app].label}, ${mode}, ${r.start}: ${r.requests} requests, ${r.failed} failed (${Object.entries(r.failures).map(([k, v]) => `${k} ${v}`).join(', ')}); ` +
        `${outcomes.ok}/${handoffs} handoffs ok, p50 ${r.handoffMs.p50.toFixed(0)} ms, max ${r.handoffMs.max.toFixed(0)} ms; ` +
        `bare start-to-listen p50 ${r.bareStartMs.p50.toFixed(0)} ms (ratio ${r.ratio.toFixed(2)})`,
    );
  }
  return results;
}

export function handoffTable(results) {
  return markdownTable(
    [['app', 'l'], ['mode', 'l'], ['new generation', 'l'], ['requests', 'r'], [FAILED_COLUMN, 'l'], ['handoffs ok', 'r'], ['handoff p50', 'r'], ['handoff max', 'r'], ['bare start-to-listen p50', 'r'], ['ratio', 'r']],
    results.map((r) => [
      APPS[r.app].label,
      r.mode,
      r.start === 'cold' ? 'cold start (default)' : 'from a `--standby`',
      r.requests,
      failedCell(r),
      `${r.handoffs.ok}/${r.handoffMs.n + r.handoffs['rolled-back'] + r.handoffs.refused}`,
      `${r.handoffMs.p50.toFixed(0)} ms`,
      `${r.handoffMs.max.toFixed(0)} ms`,
      `${r.bareStartMs.p50.toFixed(0)} ms`,
      `${r.ratio.toFixed(2)}×`,
    ]),
  );
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const quick = process.argv.includes('--quick');
  const seconds = Number(cliArg('--seconds', quick ? '4' : '12'));
  const handoffs = Number(cliArg('--handoffs', quick ? '5' : '20'));
  const workers = Number(cliArg('--workers', '1'));
  const standby = cliArg('--standby', 'both');
  const app = cliArg('--app', 'options');
  if (!Object.hasOwn(APPS, app) || !['off', 'on', 'both'].includes(standby) || !(seconds > 0 && seconds <= 120) || !(Number.isInteger(handoffs) && handoffs > 0 && handoffs <= 500) || !(Number.isInteger(workers) && workers >= 1 && workers <= 16)) {
    process.stderr.write('usage: node bench/handoff.mjs [--seconds 1-120] [--handoffs 1-500] [--workers 1-16] [--standby off|on|both] [--app options|hello] [--quick] [--json FILE]\n');
    process.exit(2);
  }
  try {
    if (await reexecUnderSubreaper()) process.exit();
    requireTools();
    snapshotBuild();
    const m = machine();
    process.stderr.write(`bench/handoff: ${seconds} s per mode, ${handoffs} handoffs each, --workers ${workers}, app ${app}${quick ? ' (--quick)' : ''}; ${m.nproc} CPUs, node ${m.node}, load average ${m.loadavg}\n`);
    const results = [];
    for (const sb of standby === 'both' ? [false, true] : [standby === 'on']) results.push(...(await handoffBench({ seconds, handoffs, workers, standby: sb, app })));
    process.stdout.write(`${handoffTable(results)}\n`);
    const out = cliArg('--json', path.join(path.dirname(new URL(import.meta.url).pathname), 'results', 'handoff.json'));
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, `${JSON.stringify({ machine: m, seconds, handoffs, workers, standby, app, quick, results }, null, 2)}\n`);
    process.stderr.write(`wrote ${out}\n`);
    process.exitCode = results.some((r) => r.failed > 0) ? 1 : 0;
  } catch (err) {
    process.stderr.write(`bench/handoff: ${err.message}\n`);
    process.exitCode = 1;
  } finally {
    killAll();
  }
}
