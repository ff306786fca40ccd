#!/usr/bin/env node
// bench/instructions (issues 13 and 14): what forkover adds to each request, counted in
// CPU instructions by callgrind, which a loaded or shared machine does not move.
//
//   node bench/instructions.mjs [--json FILE] [--keep DIR]
//
// --keep DIR keeps the callgrind dumps there (NAME-MODE.PID.1), for callgrind_annotate.
//
// On this 2-core shared machine wall-clock figures for a 5 % effect do not repeat (the
// same server's req/s moved 7k–11k between runs of bench/start.mjs within an hour). An
// instruction count does, if the process does the same work each time: each server runs
// under `valgrind --tool=callgrind` with `node --single-threaded` (no background
// compiler or GC threads, whose share depends on timing), and one client sends requests
// one at a time (concurrency 1, so every request meets the same event-loop state).
// After a warm-up the counters are zeroed (callgrind_control -z), the measured requests
// are sent, and the counters dumped (-d): instructions per request, of every thread.
//
// The servers run one handler (bench/lib/handler.cjs, as in examples/hello.js):
//  - plain: bench/servers/plain.mjs;
//  - library: examples/hello.js in the foreground (forkover(), daemon.listen(), ready());
//  - start: plain.mjs with forkover start's preload, as every generation of
//    `forkover start -- node plain.mjs` runs it (`node --import dist/start.js?c=… plain.mjs`).
// Each with a new connection per request and with keep-alive.
//
// No target of its own: the targets are on throughput (bench/start.mjs, bench/run.mjs),
// which this explains. Prints the table and writes JSON to bench/results/instructions.json
// (--json FILE); exits 0, or 2 on error. Needs valgrind (apt-get install -y
// valgrind); about 3 minutes.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { startLoad } from './lib/client.mjs';
import { ROOT, cliArg, freePort, machine, markdownTable, paths, tmpdir } from './lib/servers.mjs';

// Under callgrind V8 compiles its hot code on the main thread (--single-threaded) for the
// first thousands of requests: a shorter run (2,000 + 1,000) counted 35 % more per
// request for plain.mjs than this one, so there is no --quick.
const cfg = { warmup: 3000, measured: 3000 };
const say = (s) => process.stderr.write(`${s}\n`);

for (const tool of ['valgrind', 'callgrind_control']) {
  try {
    execFileSync(tool, ['--version'], { stdio: 'ignore' });
  } catch (err) {
    if (err.code === 'ENOENT') {
      say(`${tool} is not installed; run: apt-get update && apt-get install -y valgrind`);
      process.exit(2);
    }
  }
}
if (!fs.existsSync(path.join(ROOT, 'dist/start-config.js'))) {
  say('dist/ is missing; run: npm run build');
  process.exit(2);
}
const { startUrl } = await import(pathToFileURL(path.join(ROOT, 'dist/start-config.js')).href);
const preload = startUrl(pathToFileURL(path.join(ROOT, 'dist/start.js')).href, { options: {}, listeners: 1 });
const PLAIN = path.join(ROOT, 'bench/servers/plain.mjs');

const SERVERS = [
  { id: 'plain', label: 'plain Node process (bench/servers/plain.mjs)', args: [PLAIN] },
  { id: 'library', label: 'forkover, library form (examples/hello.js)', args: [paths.hello] },
  { id: 'start', label: 'forkover start -- node plain.mjs (its preload)', args: ['--import', preload, PLAIN] },
];

const keep = cliArg('--keep', undefined);
if (keep !== undefined) fs.mkdirSync(keep, { recursive: true });
const dir = keep ?? tmpdir();
const running = new Set();
process.on('exit', () => running.forEach((c) => c.kill('SIGKILL'))); // before servers.mjs's killAll, which removes `dir`

/** Wait for `child`'s output to say it listens, under a deadline (valgrind starts slowly). */
function listening(child, timeoutMs) {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`not listening within ${timeoutMs / 1000} s:\n${seen.slice(-800)}`)), timeoutMs);
    const on = (chunk) => {
      seen += chunk;
      if (/listening/.test(seen)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', on);
    child.stderr.on('data', on);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`exited (${code ?? signal}) before listening:\n${seen.slice(-800)}`));
    });
  });
}

async function requests(port, n, keepAlive) {
  const l = startLoad({ port, concurrency: 1, keepAlive, maxRequests: n, maxMs: 600_000, timeoutMs: 60_000 });
  const stats = await l.done;
  if (stats.failed > 0) throw new Error(`${stats.failed} of ${n} requests failed: ${stats.errors.slice(0, 3).join('; ')}`);
}

/** One server, one mode: instructions per measured request. */
async function count(server, keepAlive) {
  // A real port: the start form's preload binds a listen(0) afresh, as without forkover, but
  // every server here gets the same kind of address.
  const port = await freePort('127.0.0.1');
  const out = path.join(dir, `${server.id}-${keepAlive ? 'ka' : 'new'}.%p`);
  const child = spawn('valgrind', ['--tool=callgrind', `--callgrind-out-file=${out}`, process.execPath, '--single-threaded', ...server.args, '--host', '127.0.0.1', '--port', String(port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: ROOT,
  });
  running.add(child);
  try {
    await listening(child, 120_000);
    await requests(port, cfg.warmup, keepAlive);
    execFileSync('callgrind_control', ['-z', String(child.pid)], { stdio: 'ignore' });
    await requests(port, cfg.measured, keepAlive);
    execFileSync('callgrind_control', ['-d', String(child.pid)], { stdio: 'ignore' });
    // The dump is the process's file with a ".1" suffix; "summary:" holds the total.
    const dump = out.replace('%p', String(child.pid)) + '.1';
    const m = /^summary: (\d+)/m.exec(fs.readFileSync(dump, 'utf8'));
    if (!m) throw new Error(`no summary in ${dump}`);
    return Number(m[1]) / cfg.measured;
  } finally {
    child.kill('SIGKILL');
    running.delete(child);
  }
}

async function main() {
  say(`instructions per request, ${cfg.warmup} warm-up then ${cfg.measured} measured requests at concurrency 1, node --single-threaded under callgrind`);
  const results = {};
  for (const keepAlive of [false, true]) {
    const mode = keepAlive ? 'keepalive' : 'new';
    results[mode] = {};
    // All three at once: the counts do not depend on the cores being shared.
    const counted = await Promise.all(SERVERS.map((s) => count(s, keepAlive).then((n) => [s.id, n])));
    for (const [id, n] of counted) {
      results[mode][id] = n;
      say(`  ${mode} ${id}: ${Math.round(n)} instructions per request`);
    }
  }
  const rows = [];
  for (const mode of ['new', 'keepalive']) {
    const base = results[mode].plain;
    for (const s of SERVERS.slice(1)) {
      rows.push([
        `instructions per request, ${s.id === 'start' ? 'start form' : 'library form'} vs plain, ${mode === 'new' ? 'new connection per request' : 'keep-alive'}`,
        `${(results[mode][s.id] / 1000).toFixed(1)}k`,
        `plain ${(base / 1000).toFixed(1)}k`,
        `${(results[mode][s.id] / base).toFixed(3)}×`,
        `+${((results[mode][s.id] - base) / 1000).toFixed(1)}k`,
      ]);
    }
  }
  const m = machine();
  console.log(`\nforkover's instructions per request, ${new Date().toISOString()}`);
  console.log(`machine: ${m.nproc} CPUs (${m.cpu}), load average at the end ${m.loadavg}, node ${process.version}; ${cfg.warmup} + ${cfg.measured} requests per server and mode, concurrency 1, callgrind, node --single-threaded.\n`);
  console.log(markdownTable([['measure'], ['forkover', 'r'], ['baseline (same run)', 'r'], ['ratio', 'r'], ['added per request', 'r']], rows));
  const file = cliArg('--json', path.join(ROOT, 'bench/results/instructions.json'));
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify({ when: new Date().toISOString(), machine: m, node: process.version, cfg, results }, null, 2)}\n`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    say(`bench/instructions failed: ${err.stack ?? err}`);
    process.exit(2);
  },
);
