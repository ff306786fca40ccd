#!/usr/bin/env node
// bench/peers (issue 7: "a short comparison with PM2, naught and tableflip, in figures
// measured by bench/"): each tool's own reload command, run again and again under the
// same bounded load, in both load modes.
//
//   node bench/peers.mjs [--seconds 12] [--reloads 10] [--quick] [--json FILE]
//
// - forkover: examples/hello.js as a daemon, reloaded with `forkover reload -p FILE`.
// - PM2: cluster mode, 2 instances of the same handler, reloaded with `pm2 reload NAME`
//   (PM2's zero-downtime reload). pm2 is a development dependency, run with its own
//   PM2_HOME and stopped by PID.
// - naught 1.6 (development dependency): `naught start` with the same handler
//   (bench/servers/naught-app.cjs). Recorded: its exit code, and whether anything
//   answers within 10 s. Where nothing answers, there is nothing to reload.
// - tableflip (Go) is not run here: it needs the Go toolchain and its module download,
//   which this machine cannot reach. The README says so next to the table.
//
// Load: bench/lib/client.mjs at concurrency 32 (Node's own http.Agent with keepAlive, or a
// new connection per request). Reloads are spread over --seconds. "reload time" is the
// tool's reload command, from start to exit: both commands return once the new
// processes serve. Exits 1 if forkover failed any request.
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { startLoad } from './lib/client.mjs';
import {
  FAILED_COLUMN,
  ROOT,
  cliArg,
  failedCell,
  freePort,
  freshLoopback,
  httpGet,
  killAll,
  machine,
  markdownTable,
  median,
  pm2Home,
  readPidfile,
  reexecUnderSubreaper,
  requireTools,
  run,
  snapshotBuild,
  spreadOver,
  startForkover,
  tmpdir,
  track,
} from './lib/servers.mjs';

const quick = process.argv.includes('--quick');
const seconds = Number(cliArg('--seconds', quick ? '4' : '12'));
const reloads = Number(cliArg('--reloads', quick ? '3' : '10'));
const say = (s) => process.stderr.write(`${s}\n`);
const NAUGHT = path.join(ROOT, 'node_modules/naught/lib/main.js');
const NAUGHT_APP = path.join(ROOT, 'bench/servers/naught-app.cjs');

/** Reload `server` `reloads` times under load; failures by kind and reload times. */
async function underLoad(tool, server, keepAlive) {
  const load = startLoad({ host: server.host, port: server.port, concurrency: 32, keepAlive, maxMs: seconds * 1000 + 120_000 });
  const times = [];
  let failedReloads = 0;
  await spreadOver(seconds * 1000, reloads, async (i) => {
    const s0 = performance.now();
    const r = await server.reload();
    times.push(performance.now() - s0);
    if (r.code !== 0) {
      failedReloads++;
      say(`  ${tool}: reload ${i + 1} exited ${r.code}: ${(r.stderr || r.stdout).trim().split('\n').slice(-2).join(' | ')}`);
    }
  });
  const stats = await load.stop();
  return {
    tool,
    mode: keepAlive ? 'keep-alive' : 'new connection per request',
    requests: stats.requests,
    failed: stats.failed,
    failures: stats.byKind,
    reloads,
    failedReloads,
    reloadMs: { p50: median(times), max: Math.max(...times) },
  };
}

/** naught: does `naught start` give a server at all? */
async function naught() {
  const host = freshLoopback();
  const port = await freePort(host);
  const dir = tmpdir();
  const r = await run(
    process.execPath,
    [NAUGHT, 'start', '--ipc-file', path.join(dir, 'naught.ipc'), '--pid-file', path.join(dir, 'naught.pid'), '--log', path.join(dir, 'naught.log'), '--stdout', path.join(dir, 'out.log'), '--stderr', path.join(dir, 'err.log'), NAUGHT_APP],
    { env: { ...process.env, HOST: host, PORT: String(port) }, cwd: dir },
  );
  let answered = false;
  const deadline = Date.now() + 10_000;
  while (!answered && Date.now() < deadline) {
    answered = await httpGet(host, port).then(
      () => true,
      () => false,
    );
    if (!answered) await delay(100);
  }
  const pid = readPidfile(path.join(dir, 'naught.pid'));
  if (pid !== undefined) track(pid);
  if (answered) {
    await run(process.execPath, [NAUGHT, 'stop', '--pid-file', path.join(dir, 'naught.pid'), path.join(dir, 'naught.ipc')], { cwd: dir });
  }
  return { exitCode: r.code, answeredWithin10s: answered, pidFileWritten: pid !== undefined, stdout: r.stdout.trim(), stderr: r.stderr.trim() };
}

function table(results) {
  return markdownTable(
    [['tool', 'l'], ['mode', 'l'], ['requests', 'r'], [FAILED_COLUMN, 'l'], ['reloads ok', 'r'], ['reload time p50', 'r'], ['reload time max', 'r']],
    results.map((r) => [
      r.tool,
      r.mode,
      r.requests,
      failedCell(r),
      `${r.reloads - r.failedReloads}/${r.reloads}`,
      `${r.reloadMs.p50.toFixed(0)} ms`,
      `${r.reloadMs.max.toFixed(0)} ms`,
    ]),
  );
}

if (!(seconds > 0 && seconds <= 120) || !(Number.isInteger(reloads) && reloads > 0 && reloads <= 100)) {
  process.stderr.write('usage: node bench/peers.mjs [--seconds 1-120] [--reloads 1-100] [--quick] [--json FILE]\n');
  process.exit(2);
}
let pm2;
try {
  if (await reexecUnderSubreaper()) process.exit();
  requireTools({ pm2: true });
  if (!fs.existsSync(NAUGHT)) throw new Error('naught (a devDependency used by this benchmark) is missing; run: npm install');
  snapshotBuild();
  const m = machine();
  say(`bench/peers: ${seconds} s and ${reloads} reloads per tool and mode, concurrency 32; ${m.nproc} CPUs, node ${m.node}, load average ${m.loadavg}`);
  pm2 = pm2Home();
  const results = [];
  for (const keepAlive of [false, true]) {
    const f = await startForkover(freshLoopback(), { extra: ['--max-draining', '64', '--drain-timeout', '10'] });
    try {
      results.push(await underLoad('forkover', f, keepAlive));
    } finally {
      await f.stop();
    }
    say(`  ${results.at(-1).tool}, ${results.at(-1).mode}: ${results.at(-1).failed} of ${results.at(-1).requests} failed`);
    const p = await pm2.start(freshLoopback(), 2);
    try {
      results.push(await underLoad('PM2 cluster ×2', p, keepAlive));
    } finally {
      await p.stop();
    }
    say(`  ${results.at(-1).tool}, ${results.at(-1).mode}: ${results.at(-1).failed} of ${results.at(-1).requests} failed`);
  }
  const n = await naught();
  const naughtLine = `naught 1.6: \`naught start\` exited ${n.exitCode}; ${n.answeredWithin10s ? 'the server answered' : 'nothing answered within 10 s'}; pid file ${n.pidFileWritten ? 'written' : 'not written'}${n.stderr ? `; stderr: ${n.stderr.split('\n')[0]}` : ''}`;
  process.stdout.write(`${table(results)}\n\n${naughtLine}\n`);
  const out = cliArg('--json', path.join(ROOT, 'bench', 'results', 'peers.json'));
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify({ machine: m, seconds, reloads, quick, results, naught: n }, null, 2)}\n`);
  say(`wrote ${out}`);
  process.exitCode = results.some((r) => r.tool === 'forkover' && (r.failed > 0 || r.failedReloads > 0)) ? 1 : 0;
} catch (err) {
  say(`bench/peers: ${err.stack ?? err.message}`);
  process.exitCode = 1;
} finally {
  await pm2?.kill();
  killAll();
}
