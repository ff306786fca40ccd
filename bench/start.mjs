#!/usr/bin/env node
// bench/start (issue 14): an unmodified app under `forkover start` against the library
// form and a plain process, all measured in one run.
//
//   node bench/start.mjs [--quick] [--json FILE]
//
// The three servers run one handler (bench/lib/handler.cjs, as in examples/hello.js):
//  - plain: bench/servers/plain.mjs, a bare http.createServer process;
//  - library: examples/hello.js, which calls forkover() and daemon.listen();
//  - start: `forkover start --daemon … -- node bench/servers/plain.mjs --host H --port P`,
//    the plain server unchanged, its own listen() taken over by the preload.
//
// Throughput: wrk (one thread, 32 connections), with a new connection per request
// ("Connection: close") and with keep-alive; each run on a server started afresh on a
// fresh loopback address, the order rotating each round (bench/lib/measure.mjs), medians.
// Beside req/s, the CPU time per request of the server's processes, which moves less
// than req/s when other work shares the cores.
//
// Handoff: the library and the start form, in both load modes, run side by side, each
// under its own Node load client (bench/lib/client.mjs) at concurrency 16, 32 in all as in
// bench/handoff.mjs; their USR2s alternate (library, start, start, library, …) over each
// round, so both hand over under the same conditions moments apart (this 2-core machine is
// shared, and its load moves within seconds). Latency is from the signal to the pidfile
// naming the new generation (bench/handoff.mjs). Fresh daemons each round; p50 over all.
//
// Targets (issue 14): start ≥ 0.97× plain throughput in both modes; start handoff p50
// ≤ 1.1× the library form's in both modes; and no failed request in the handoff runs.
// Prints the table to stdout and writes JSON to bench/results/start.json (--json FILE);
// exits 0 if every target passed, 1 if one failed, 2 on error.
import fs from 'node:fs';
import path from 'node:path';
import { startLoad } from './lib/client.mjs';
import { interleavedThroughput, timeHandoff } from './lib/measure.mjs';
import {
  FAILED_COLUMN,
  ROOT,
  benchMain,
  cliArg,
  failedCell,
  freshLoopback,
  machine,
  markdownTable,
  median,
  requireTools,
  snapshotBuild,
  spreadOver,
  startForkover,
  startPlain,
} from './lib/servers.mjs';

const quick = process.argv.includes('--quick');
const cfg = quick
  ? { rounds: 2, seconds: 2, handoffRounds: 1, handoffSeconds: 5, handoffsPerRound: 4 }
  : { rounds: 7, seconds: 3, handoffRounds: 4, handoffSeconds: 10, handoffsPerRound: 5 };
const THROUGHPUT_TARGET = 0.97;
const HANDOFF_TARGET = 1.1;
const say = (s) => process.stderr.write(`${s}\n`);

const FORMS = {
  library: { label: 'forkover, library form (examples/hello.js)', start: (h, extra) => startForkover(h, { extra }) },
  start: { label: 'forkover start -- node plain.mjs', start: (h, extra) => startForkover(h, { form: 'start', extra }) },
};

async function throughput() {
  return interleavedThroughput(
    [
      { id: 'plain', label: 'plain Node process (bench/servers/plain.mjs)', start: (h) => startPlain(h) },
      { id: 'library', label: FORMS.library.label, start: (h) => FORMS.library.start(h) },
      { id: 'start', label: FORMS.start.label, start: (h) => FORMS.start.start(h) },
    ],
    { rounds: cfg.rounds, seconds: cfg.seconds, log: say },
  );
}

/**
 * One round: both forms daemonized afresh side by side, each under its own load at
 * concurrency 16 (32 in all, as bench/handoff.mjs), and `handoffsPerRound` handoffs of
 * each spread over the round, alternating library, start, start, library, …: the two
 * forms hand over under the same load and the same machine, moments apart.
 */
async function handoffRound(keepAlive, round) {
  const forms = round % 2 === 0 ? ['library', 'start'] : ['start', 'library'];
  const d = {};
  const loads = {};
  const latencies = { library: [], start: [] };
  const outcomes = { library: {}, start: {} };
  try {
    // Each handoff leaves a draining generation; allow enough of them for the pace here.
    for (const form of forms) d[form] = await FORMS[form].start(freshLoopback(), ['--max-draining', '64', '--drain-timeout', '10']);
    for (const form of forms) loads[form] = startLoad({ host: d[form].host, port: d[form].port, concurrency: 16, keepAlive, maxMs: cfg.handoffSeconds * 1000 + 60_000 });
    const order = Array.from({ length: cfg.handoffsPerRound }, (_, i) => (i % 2 === 0 ? forms : [...forms].reverse())).flat();
    await spreadOver(cfg.handoffSeconds * 1000, order.length, async (i) => {
      const form = order[i];
      const h = await timeHandoff(d[form]);
      outcomes[form][h.outcome] = (outcomes[form][h.outcome] ?? 0) + 1;
      if (h.outcome === 'ok') latencies[form].push(h.ms);
      else say(`  ${form} handoff ${i + 1}: ${h.outcome}: ${h.reason}`);
    });
  } finally {
    for (const l of Object.values(loads)) await l.stop();
    for (const x of Object.values(d)) await x.stop();
  }
  return Object.fromEntries(forms.map((f) => [f, { stats: loads[f].stats, latencies: latencies[f], outcomes: outcomes[f] }]));
}

async function handoffs() {
  const out = [];
  for (const keepAlive of [false, true]) {
    const mode = keepAlive ? 'keep-alive' : 'new connection per request';
    const acc = Object.fromEntries(Object.keys(FORMS).map((f) => [f, { requests: 0, failed: 0, failures: { refused: 0, reset: 0, timeout: 0, non2xx: 0, other: 0 }, errors: [], latencies: [], outcomes: {} }]));
    // start / library for the k-th handoff of each in a round: moments apart, so the
    // machine's drift cancels out of each ratio.
    const pairRatios = [];
    for (let round = 0; round < cfg.handoffRounds; round++) {
      const rr = await handoffRound(keepAlive, round);
      const n = Math.min(rr.library.latencies.length, rr.start.latencies.length);
      for (let k = 0; k < n; k++) pairRatios.push(rr.start.latencies[k] / rr.library.latencies[k]);
      for (const [form, r] of Object.entries(rr)) {
        const a = acc[form];
        a.requests += r.stats.requests;
        a.failed += r.stats.failed;
        for (const [k, v] of Object.entries(r.stats.byKind)) a.failures[k] += v;
        a.errors.push(...r.stats.errors.slice(0, 5 - a.errors.length));
        a.latencies.push(...r.latencies);
        for (const [k, v] of Object.entries(r.outcomes)) a.outcomes[k] = (a.outcomes[k] ?? 0) + v;
      }
      const line = (f) => `${f} p50 ${median(rr[f].latencies).toFixed(0)} ms (${rr[f].latencies.map((x) => x.toFixed(0)).join(', ')}), ${rr[f].stats.requests} requests, ${rr[f].stats.failed} failed`;
      say(`  ${mode} round ${round + 1}: ${line('library')}; ${line('start')}`);
    }
    for (const [form, a] of Object.entries(acc)) {
      out.push({ mode, form, label: FORMS[form].label, requests: a.requests, failed: a.failed, failures: a.failures, errors: a.errors, outcomes: a.outcomes, handoffMs: { p50: median(a.latencies), max: Math.max(...a.latencies), n: a.latencies.length, samples: a.latencies }, ...(form === 'start' ? { pairedRatioP50: median(pairRatios), pairRatios } : {}) });
    }
  }
  return out;
}

function report(m, tp, ho) {
  const rows = [];
  const row = (measure, value, baseline, ratio, target, pass) => rows.push({ measure, value, baseline, ratio, target, pass });
  const k = (x) => `${(x / 1000).toFixed(1)}k req/s`;
  for (const [mode, name] of [
    ['new', 'new connection per request'],
    ['keepalive', 'keep-alive'],
  ]) {
    const t = tp[mode];
    const q = t.start.median / t.plain.median;
    row(`throughput, start form vs plain, ${name}`, k(t.start.median), `plain ${k(t.plain.median)}`, q, `≥ ${THROUGHPUT_TARGET}×`, q >= THROUGHPUT_TARGET);
  }
  for (const mode of ['new connection per request', 'keep-alive']) {
    const lib = ho.find((h) => h.mode === mode && h.form === 'library');
    const st = ho.find((h) => h.mode === mode && h.form === 'start');
    const q = st.handoffMs.p50 / lib.handoffMs.p50;
    row(`handoff p50 under load, start form vs library form, ${mode} (max ${st.handoffMs.max.toFixed(0)} / ${lib.handoffMs.max.toFixed(0)} ms; median of paired ratios ${st.pairedRatioP50.toFixed(2)}×)`, `${st.handoffMs.p50.toFixed(0)} ms`, `library ${lib.handoffMs.p50.toFixed(0)} ms`, q, `≤ ${HANDOFF_TARGET}×`, q <= HANDOFF_TARGET);
  }
  const failed = ho.reduce((n, h) => n + h.failed, 0);
  const okHandoffs = ho.reduce((n, h) => n + h.handoffMs.n, 0);
  const expected = ho.length * cfg.handoffRounds * cfg.handoffsPerRound;
  row(`failed requests in the handoff runs (both forms; ${okHandoffs} of ${expected} handoffs ok)`, `${failed}`, '—', null, '0, every handoff ok', failed === 0 && okHandoffs === expected);

  const lines = [
    `forkover start vs the library form vs plain${quick ? ' (--quick: fewer rounds; not the figures to quote)' : ''}, ${m.date}`,
    `machine: ${m.nproc} CPUs (${m.cpu}), memory ${m.memory}, node ${m.node}, load average at start ${m.loadavg}`,
    `throughput: wrk -t1 -c32, ${cfg.rounds} rotating round(s) of ${cfg.seconds} s per server and mode, medians; handoffs: both forms side by side, each under the Node client at concurrency 16, ${cfg.handoffRounds} round(s) per mode of ${cfg.handoffsPerRound} alternating handoffs of each form in ${cfg.handoffSeconds} s.`,
    '',
    '| measure | forkover start | baseline (same run) | ratio | target | result |',
    '|---|---:|---:|---:|---|---|',
    ...rows.map((x) => `| ${x.measure} | ${x.value} | ${x.baseline} | ${x.ratio === null ? '—' : `${x.ratio.toFixed(2)}×`} | ${x.target} | ${x.pass ? 'PASS' : 'FAIL'} |`),
    '',
    'Every server: median req/s (ratio to plain), every round, and median CPU time per request of its processes:',
    '',
    markdownTable(
      [['server', 'l'], ['new connection per request', 'r'], ['keep-alive', 'r'], ['rounds, new / keep-alive (k req/s)', 'l'], ['CPU µs/request (new / keep-alive)', 'r']],
      Object.keys(tp.new).map((id) => {
        const a = tp.new[id];
        const b = tp.keepalive[id];
        const cell = (x, p) => `${(x.median / 1000).toFixed(1)}k (${(x.median / p.median).toFixed(2)}×)`;
        const each = (x) => x.rps.map((v) => (v / 1000).toFixed(1)).join(' ');
        return [a.label, cell(a, tp.new.plain), cell(b, tp.keepalive.plain), `${each(a)} / ${each(b)}`, `${a.cpuMedian.toFixed(0)} / ${b.cpuMedian.toFixed(0)}`];
      }),
    ),
    '',
    'Handoffs under load:',
    '',
    markdownTable(
      [['mode', 'l'], ['form', 'l'], ['requests', 'r'], [FAILED_COLUMN, 'l'], ['handoffs ok', 'r'], ['handoff p50', 'r'], ['handoff max', 'r']],
      ho.map((h) => [h.mode, h.label, h.requests, failedCell(h), `${h.handoffMs.n}/${cfg.handoffRounds * cfg.handoffsPerRound}`, `${h.handoffMs.p50.toFixed(0)} ms`, `${h.handoffMs.max.toFixed(0)} ms`]),
    ),
  ];
  return { text: lines.join('\n'), rows };
}

async function main() {
  requireTools();
  snapshotBuild();
  const m = machine();
  say(`bench/start${quick ? ' --quick' : ''}: ${m.nproc} CPUs, node ${m.node}, load average ${m.loadavg}`);
  say('throughput (wrk):');
  const tp = await throughput();
  say('handoffs under load (Node client):');
  const ho = await handoffs();
  const { text, rows } = report(m, tp, ho);
  process.stdout.write(`${text}\n`);
  const out = cliArg('--json', path.join(ROOT, 'bench/results/start.json'));
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify({ machine: m, quick, config: cfg, targets: rows, throughput: tp, handoff: ho, table: text }, null, 2)}\n`);
  say(`wrote ${out}`);
  return rows.every((x) => x.pass) ? 0 : 1;
}

await benchMain('bench/start', main);
