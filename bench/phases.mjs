#!/usr/bin/env node
// bench/phases (issue 13): where a start's time goes, phase by phase, inside every process,
// against a bare start of the same server (bench/servers/plain.mjs) in the same run.
//
//   node bench/phases.mjs [--starts 15] [--handoffs 20] [--seconds 12] [--json FILE]
//
// Every Node process it starts runs the preload bench/lib/marks.cjs (NODE_OPTIONS=-r),
// which notes the wall-clock time of each phase (Node's start done, spawn(), listen(),
// READY, the pidfile) and the CPU time Node's own start used; the script joins the marks
// of the processes of each start by PID and prints medians:
//  - launcher: `--daemon` starts of bench/servers/options.mjs, alternating with bare
//    starts (the order rotating each round), --starts of each;
//  - cold handoff under load: for each load mode (a new connection per request,
//    keep-alive; the Node client at concurrency 32, as bench/handoff.mjs), --handoffs
//    USR2s spread over --seconds, each followed by a bare start under the same load. The
//    defaults are the suite's pace (bench/run.mjs: 20 in 12 s); how soon one handoff
//    follows another changes the figures (README, "2026-12-07, evening").
// The suite's rows (bench/run.mjs) say how long a start takes against its baseline; this
// says which phase the difference is in. Exits 0, or 2 on error.
import fs from 'node:fs';
import path from 'node:path';
import { startLoad } from './lib/client.mjs';
import { timeHandoff } from './lib/measure.mjs';
import { ROOT, benchMain, cliArg, freshLoopback, machine, markdownTable, median, readPidfile, requireTools, spreadOver, startForkover, startPlain, tmpdir, waitGone } from './lib/servers.mjs';

const say = (s) => process.stderr.write(`${s}\n`);

/** The marks in `file`, by PID: { origin, cpu, preload, 'spawn-call', …, exit } (first of each). */
function readMarks(file) {
  const by = new Map();
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return by;
  }
  for (const line of text.split('\n')) {
    const [at, pid, what, value] = line.split(' ');
    if (what === undefined) continue;
    const m = by.get(Number(pid)) ?? {};
    if (what === 'cpu') m.cpu ??= Number(value);
    else m[what] ??= Number(at);
    by.set(Number(pid), m);
  }
  return by;
}

/** The median of `key` over `rows` (objects of phase -> ms), as a cell; — where no row has it. */
function cell(rows, key) {
  const m = median(rows.map((r) => r[key]));
  return Number.isFinite(m) ? m.toFixed(1) : '—';
}

/** Table rows [label, cell of each of `sets`] for each [key, label] of `phases`. */
function phaseRows(phases, ...sets) {
  return phases.map(([key, label]) => [label, ...sets.map((rows) => cell(rows, key))]);
}

/** A bare start's phases from its marks `m`, spawned at `spawnedAt` (epoch ms), `ms` spawn to listening as startPlain timed it. */
function bareRow(m = {}, spawnedAt, ms) {
  return { toChild: m.origin - spawnedAt, boot: m.preload - m.origin, cpu: m.cpu, graph: m['listen-call'] - m.preload, listen: m.listening - m['listen-call'], total: ms };
}

const epochMs = () => performance.timeOrigin + performance.now();

async function launcherPhases(starts, file) {
  const launcher = [];
  const bare = [];
  const steps = [
    async () => {
      fs.rmSync(file, { force: true });
      const spawnedAt = epochMs();
      const p = await startPlain(freshLoopback());
      await p.stop();
      bare.push(bareRow(readMarks(file).get(p.pids[0]), spawnedAt, p.startMs));
    },
    async () => {
      fs.rmSync(file, { force: true });
      const d = await startForkover(freshLoopback(), { workers: 1, form: 'options' });
      await d.stop();
      const marks = readMarks(file);
      const dm = marks.get(d.pid);
      // The launcher: the process that called spawn() and is not the daemon.
      const lm = [...marks.entries()].find(([pid, m]) => pid !== d.pid && m['spawn-call'] !== undefined)?.[1];
      launcher.push({
        boot: lm?.preload - lm?.origin,
        toSpawn: lm?.['spawn-call'] - lm?.preload,
        spawn: lm?.['spawn-ret'] - lm?.['spawn-call'],
        toDaemon: dm?.origin - lm?.['spawn-ret'],
        daemonBoot: dm?.preload - dm?.origin,
        daemonGraph: dm?.['listen-call'] - dm?.preload,
        listen: dm?.listening - dm?.['listen-call'],
        toReady: dm?.ready - dm?.listening,
        toExit: lm?.exit - dm?.ready,
        total: d.launcherMs,
      });
    },
  ];
  for (let i = 0; i < starts; i++) for (let k = 0; k < steps.length; k++) await steps[(i + k) % steps.length]();
  return { launcher, bare };
}

async function handoffPhases({ keepAlive, handoffs, seconds, file }) {
  fs.rmSync(file, { force: true });
  const host = freshLoopback();
  const d = await startForkover(host, { workers: 1, form: 'options', extra: ['--max-draining', '64', '--drain-timeout', '10'] });
  const load = startLoad({ host, port: d.port, concurrency: 32, keepAlive, maxMs: seconds * 1000 + 60_000 });
  const rows = [];
  await spreadOver(seconds * 1000, handoffs, async () => {
    const old = readPidfile(d.pidfile);
    const t0 = epochMs();
    const h = await timeHandoff(d);
    const b0 = epochMs();
    const p = await startPlain(host);
    await p.stop();
    if (h.outcome === 'ok') rows.push({ old, pid: readPidfile(d.pidfile), t0, ms: h.ms, bare: { pid: p.pids[0], t0: b0, ms: p.startMs } });
  });
  const stats = await load.stop();
  await d.stop();
  // An old generation writes its marks as it exits, once drained (--drain-timeout 10).
  await waitGone(rows.map((r) => r.old), 15_000);
  const marks = readMarks(file);
  const out = { handoff: [], bare: [], requests: stats.requests, failed: stats.failed };
  for (const r of rows) {
    const o = marks.get(r.old) ?? {};
    const n = marks.get(r.pid) ?? {};
    out.handoff.push({
      toSpawn: o['spawn-call'] - r.t0,
      spawn: o['spawn-ret'] - o['spawn-call'],
      toChild: n.origin - o['spawn-ret'],
      boot: n.preload - n.origin,
      cpu: n.cpu,
      graph: n['listen-call'] - n.preload,
      listen: n.listening - n['listen-call'],
      toPidfile: n.pidfile - n.listening,
      total: r.ms,
    });
    out.bare.push(bareRow(marks.get(r.bare.pid), r.bare.t0, r.bare.ms));
  }
  return out;
}

async function main() {
  const starts = Number(cliArg('--starts', '15'));
  const handoffs = Number(cliArg('--handoffs', '20'));
  const seconds = Number(cliArg('--seconds', '12'));
  if (![starts, handoffs, seconds].every((n) => Number.isInteger(n) && n > 0 && n <= 500)) {
    say('usage: node bench/phases.mjs [--starts 1-500] [--handoffs 1-500] [--seconds 1-500] [--json FILE]');
    return 2;
  }
  requireTools({ wrk: false });
  const file = path.join(tmpdir(), 'marks.txt');
  // Every process started from here on loads the preload; FORKOVER_* would be stripped
  // from a daemon's children (respawn.ts childEnv), this name is not.
  process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} -r ${JSON.stringify(path.join(ROOT, 'bench/lib/marks.cjs'))}`.trim(); // quoted: NODE_OPTIONS splits on spaces
  process.env.BENCH_PHASES_FILE = file;
  const m = machine();
  say(`bench/phases: ${starts} launcher and bare starts, ${handoffs} cold handoffs per load mode; ${m.nproc} CPUs, node ${m.node}, load average ${m.loadavg}`);
  const la = await launcherPhases(starts, file);
  const modes = {};
  for (const keepAlive of [false, true]) {
    const mode = keepAlive ? 'keep-alive' : 'new connection per request';
    say(`cold handoffs, ${mode} …`);
    modes[mode] = await handoffPhases({ keepAlive, handoffs, seconds, file });
  }
  const text = [
    `Start-up phases, ${m.date}; ${m.nproc} CPUs (${m.cpu}), node ${m.node}, load average at start ${m.loadavg}. Medians, ms.`,
    '',
    `\`--daemon\` start of bench/servers/options.mjs (${la.launcher.length}) against a bare start of plain.mjs (${la.bare.length}), alternating:`,
    '',
    markdownTable(
      [['phase', 'l'], ['ms', 'r']],
      [
        ...phaseRows(
          [
            ['boot', "launcher: Node's own start"],
            ['toSpawn', 'launcher: import graph and forkover, to spawn()'],
            ['spawn', 'launcher: spawn() of /bin/sh'],
            ['toDaemon', "the shell, to the daemon's first instant"],
            ['daemonBoot', "daemon: Node's own start"],
            ['daemonGraph', 'daemon: import graph and forkover, to listen()'],
            ['listen', 'daemon: listen()'],
            ['toReady', 'daemon: to READY'],
            ['toExit', 'launcher: READY to its exit'],
            ['total', 'launcher: spawn to exit, as the suite times it'],
          ],
          la.launcher,
        ),
        ...phaseRows(
          [
            ['boot', "bare: Node's own start"],
            ['graph', 'bare: import graph, to listen()'],
            ['listen', 'bare: listen()'],
            ['total', 'bare: spawn to listening, as the suite times it'],
          ],
          la.bare,
        ),
      ],
    ),
  ];
  for (const [mode, r] of Object.entries(modes)) {
    text.push(
      '',
      `Cold handoff under load, ${mode} (${r.handoff.length} handoffs, each followed by a bare start under the same load; ${r.requests} requests, ${r.failed} failed):`,
      '',
      markdownTable(
        [['phase', 'l'], ['new generation', 'r'], ['bare start', 'r']],
        phaseRows(
          [
            ['toSpawn', "USR2 to the old generation's spawn()"],
            ['spawn', 'spawn()'],
            ['toChild', "to the new process's first instant (bare: from its spawn)"],
            ['boot', "Node's own start, wall clock"],
            ['cpu', "Node's own start, CPU time"],
            ['graph', 'import graph (and forkover), to listen()'],
            ['listen', 'listen()'],
            ['toPidfile', 'listening to the pidfile'],
            ['total', 'whole, as the suite times it (USR2 to the pidfile; spawn to listening)'],
          ],
          r.handoff,
          r.bare,
        ),
      ),
    );
  }
  process.stdout.write(`${text.join('\n')}\n`);
  const out = cliArg('--json', path.join(ROOT, 'bench/results/phases.json'));
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify({ machine: m, starts, handoffs, seconds, launcher: la, handoff: modes }, null, 2)}\n`);
  say(`wrote ${out}`);
  return 0;
}

await benchMain('bench/phases', main);
