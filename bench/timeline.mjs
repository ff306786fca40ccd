#!/usr/bin/env node
// bench/timeline (issue 13, items 1 and 2): what a reload does to the traffic, over time,
// for each tool: requests completed and failed (by kind) per 100 ms, and the reload
// moments, written as JSON and drawn as one SVG panel per tool and load mode (a PNG
// beside it when rsvg-convert is installed). The README shows the committed picture.
//
//   node bench/timeline.mjs [--seconds 24] [--reloads 5] [--concurrency 32] [--quick] [--out DIR]
//   node bench/timeline.mjs --render DIR/timeline.json [--out DIR]   (redraw, measure nothing)
//
// Tools, each started afresh on a fresh loopback address for each load mode:
// - forkover: examples/hello.js as a daemon, reloaded with `forkover reload -p FILE`.
// - forkover start: the plain server bench/servers/plain.mjs, which imports nothing of
//   forkover, under `forkover start --daemon`; reloaded the same way.
// - PM2 cluster mode, 2 instances of the same handler, `pm2 reload NAME` (its own
//   PM2_HOME in a temp dir, deleted and its daemon killed by PID at the end).
// Load: bench/lib/client.mjs, `--concurrency` loops (keep-alive through Node's http.Agent,
// or a new connection per request), stopped after `--seconds` (and bounded by a hard
// deadline 60 s later); `--reloads` reload commands spread evenly over that time, each
// after the previous one exited. A completed request counts in the bucket its answer
// came in; a failed one in the bucket it was sent in (a timeout is learned 10 s later).
//
// Writes timeline.json, timeline.svg (and timeline.png) to --out: docs/ for a full run
// (the README's picture), bench/results/ for --quick. Exits 1 if forkover, in either
// form, failed a request or a reload.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startLoad } from './lib/client.mjs';
import { KINDS, failedPhrase, timelineSvg } from './lib/timeline-chart.mjs';
import {
  FAILED_COLUMN,
  ROOT,
  cliArg,
  failedCell,
  freshLoopback,
  killAll,
  machine,
  markdownTable,
  pm2Home,
  reexecUnderSubreaper,
  requireTools,
  snapshotBuild,
  spreadOver,
  startForkover,
} from './lib/servers.mjs';

const BUCKET_MS = 100;
const TIMEOUT_MS = 10_000; // the load client's per-request timeout (its default)
const MAX_FAILURE_RECORDS = 10_000; // per panel, in the JSON; the buckets count them all
// As bench/peers.mjs: a reload every few seconds on keep-alive load leaves several
// generations draining at once.
const FORKOVER_FLAGS = ['--max-draining', '64', '--drain-timeout', '10'];

const say = (s) => process.stderr.write(`${s}\n`);

/** Per-100 ms counts for one load run, fed by the load client's onResult. */
function recorder(t0) {
  const completed = [];
  const failed = Object.fromEntries(KINDS.map((k) => [k, []]));
  const failures = [];
  const bump = (arr, i) => {
    while (arr.length <= i) arr.push(0);
    arr[i]++;
  };
  return {
    completed,
    failed,
    failures,
    onResult(kind, sentAt) {
      const now = performance.now();
      if (kind === null) {
        bump(completed, Math.floor((now - t0) / BUCKET_MS));
        return;
      }
      bump(failed[kind], Math.floor((sentAt - t0) / BUCKET_MS));
      if (failures.length < MAX_FAILURE_RECORDS) failures.push({ kind, sentMs: Math.round(sentAt - t0), seenMs: Math.round(now - t0) });
    },
  };
}

/** One panel: `tool` under load in one mode, reloaded `reloads` times. */
async function panel(tool, keepAlive, { seconds, reloads, concurrency }) {
  const server = await tool.start(freshLoopback());
  try {
    const t0 = performance.now();
    const rec = recorder(t0);
    const load = startLoad({ host: server.host, port: server.port, concurrency, keepAlive, timeoutMs: TIMEOUT_MS, maxMs: seconds * 1000 + 60_000, onResult: rec.onResult });
    const moments = [];
    await spreadOver(seconds * 1000, reloads, async (i) => {
      const s = performance.now() - t0;
      const r = await server.reload();
      moments.push({ startMs: Math.round(s), endMs: Math.round(performance.now() - t0), code: r.code });
      if (r.code !== 0) {
        moments.at(-1).output = (r.stderr || r.stdout).trim().split('\n').slice(-3).join('\n');
        say(`  ${tool.label}: reload ${i + 1} exited ${r.code}: ${moments.at(-1).output.replace(/\n/g, ' | ')}`);
      }
    });
    const stopMs = performance.now() - t0;
    const stats = await load.stop();
    // Every bucket array spans the load, so zeros are explicit. Not the wait for the last
    // answers after stop(): a hung request may hold it for up to TIMEOUT_MS, and counts
    // in the bucket it was sent in.
    const length = Math.max(Math.ceil(stopMs / BUCKET_MS), rec.completed.length, ...Object.values(rec.failed).map((a) => a.length));
    for (const arr of [rec.completed, ...Object.values(rec.failed)]) while (arr.length < length) arr.push(0);
    const answeredBy = Object.fromEntries([...stats.pids].sort((a, b) => a[0] - b[0]));
    return {
      tool: tool.id,
      label: tool.label,
      mode: keepAlive ? 'keep-alive' : 'new connection per request',
      keepAlive,
      requests: stats.requests,
      ok: stats.ok,
      failed: stats.failed,
      failures: stats.byKind,
      errors: stats.errors,
      loadMs: Math.round(stopMs),
      durationMs: Math.round(stats.elapsedMs),
      reloads: moments,
      buckets: { completed: rec.completed, failed: rec.failed },
      failureRecords: rec.failures,
      // Every process that answered or that we started, for a test to check they are gone.
      pids: [...new Set([...Object.keys(answeredBy).map(Number), ...(server.cpuPids ?? server.pids ?? []), ...(server.pid ? [server.pid] : [])])].filter((p) => p > 0),
      answeredBy,
    };
  } finally {
    await server.stop();
  }
}

/** Write timeline.svg (and timeline.png if rsvg-convert is installed) beside the JSON. */
function render(result, outDir) {
  const svgFile = path.join(outDir, 'timeline.svg');
  fs.writeFileSync(svgFile, timelineSvg(result));
  say(`wrote ${svgFile}`);
  const pngFile = path.join(outDir, 'timeline.png');
  try {
    execFileSync('rsvg-convert', ['--zoom', '2', '--format', 'png', '--output', pngFile, svgFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    say(`wrote ${pngFile}`);
  } catch (err) {
    if (err.code !== 'ENOENT') throw new Error(`rsvg-convert failed on ${svgFile}: ${err.stderr ?? err.message}`);
    say('no PNG: rsvg-convert is not installed (apt-get install -y librsvg2-bin)');
  }
}

function table(panels) {
  return markdownTable(
    [['tool', 'l'], ['mode', 'l'], ['requests', 'r'], [FAILED_COLUMN, 'l'], ['reloads ok', 'r']],
    panels.map((p) => [p.label, p.mode, p.requests, failedCell(p), `${p.reloads.filter((r) => r.code === 0).length}/${p.reloads.length}`]),
  );
}

const rendering = cliArg('--render', undefined);
if (rendering) {
  const result = JSON.parse(fs.readFileSync(rendering, 'utf8'));
  const outDir = cliArg('--out', path.dirname(rendering));
  fs.mkdirSync(outDir, { recursive: true });
  render(result, outDir);
  process.exit(0);
}

const quick = process.argv.includes('--quick');
const seconds = Number(cliArg('--seconds', quick ? '6' : '24'));
const reloads = Number(cliArg('--reloads', quick ? '2' : '5'));
const concurrency = Number(cliArg('--concurrency', '32'));
const outDir = path.resolve(cliArg('--out', path.join(ROOT, quick ? 'bench/results' : 'docs')));
if (!(seconds >= 2 && seconds <= 120) || !(Number.isInteger(reloads) && reloads >= 1 && reloads <= 40) || !(Number.isInteger(concurrency) && concurrency >= 1 && concurrency <= 256)) {
  say('usage: node bench/timeline.mjs [--seconds 2-120] [--reloads 1-40] [--concurrency 1-256] [--quick] [--out DIR]');
  say('       node bench/timeline.mjs --render FILE.json [--out DIR]');
  process.exit(2);
}

let pm2;
try {
  if (await reexecUnderSubreaper()) process.exit();
  requireTools({ pm2: true, wrk: false });
  snapshotBuild();
  const m = machine();
  say(`bench/timeline: ${seconds} s and ${reloads} reloads per tool and mode, concurrency ${concurrency}; ${m.nproc} CPUs, node ${m.node}, load average ${m.loadavg}`);
  pm2 = pm2Home();
  const tools = [
    { id: 'forkover', label: 'forkover (examples/hello.js)', start: (host) => startForkover(host, { extra: FORKOVER_FLAGS }) },
    { id: 'forkover-start', label: 'forkover start (an unmodified app)', start: (host) => startForkover(host, { form: 'start', extra: FORKOVER_FLAGS }) },
    { id: 'pm2', label: 'PM2 cluster ×2 (pm2 reload)', start: (host) => pm2.start(host, 2) },
  ];
  const panels = [];
  for (const keepAlive of [false, true]) {
    for (const tool of tools) {
      const p = await panel(tool, keepAlive, { seconds, reloads, concurrency });
      panels.push(p);
      say(`  ${p.label}, ${p.mode}: ${p.requests} requests, ${failedPhrase(p)}, ${p.reloads.filter((r) => r.code === 0).length}/${p.reloads.length} reloads ok`);
    }
  }
  const result = {
    machine: m,
    command: `npm run bench:timeline${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    quick,
    seconds,
    reloads,
    reloadEveryMs: (seconds * 1000) / (reloads + 1),
    concurrency,
    bucketMs: BUCKET_MS,
    timeoutMs: TIMEOUT_MS,
    panels,
  };
  fs.mkdirSync(outDir, { recursive: true });
  const jsonFile = path.join(outDir, 'timeline.json');
  // Indented, with each array of numbers on one line: readable, and a diff of two runs
  // shows which panels changed.
  fs.writeFileSync(jsonFile, `${JSON.stringify(result, null, 2).replace(/\[\s+([-\d.,\s]+?)\s+\]/g, (_, xs) => `[${xs.replace(/\s+/g, '')}]`)}\n`);
  say(`wrote ${jsonFile}`);
  render(result, outDir);
  process.stdout.write(`${table(panels)}\n`);
  process.exitCode = panels.some((p) => p.tool.startsWith('forkover') && (p.failed > 0 || p.reloads.some((r) => r.code !== 0))) ? 1 : 0;
} catch (err) {
  say(`bench/timeline: ${err.stack ?? err.message}`);
  process.exitCode = 1;
} finally {
  await pm2?.kill();
  killAll();
}
