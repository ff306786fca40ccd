// Crash-injecting soak (issue 5, item 7; contracts R3.3, R3.4, R2.4): N handoffs under a
// keep-alive load, with a share of the new generations made to crash at a random point of
// their start-up (test/fixtures/crashy-app.mjs). Bounded in handoffs, requests and time.
//
//   npm run soak                      # 500 handoffs, 10% crashing
//   npm run soak -- --handoffs 50     # a quick run
//   npm run soak -- --standby         # every generation keeps a --standby for the next
//
// Prints requests and failed requests (target 0), handoffs that succeeded and rolled back,
// generations left (target 1), zombies (target 0; run under `tini -s`, as `npm run soak`
// does, because PID 1 here does not reap), and the serving generation's fd count and RSS
// at the start and the end. Exits 1 if a target is missed.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startLoad } from './lib/client.mjs';
import { main as cli } from '../dist/cli.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const APP = path.join(ROOT, 'test/fixtures/crashy-app.mjs');

const { values } = parseArgs({
  options: {
    handoffs: { type: 'string', default: '500' },
    'crash-rate': { type: 'string', default: '0.1' },
    concurrency: { type: 'string', default: '8' },
    seed: { type: 'string', default: '5' },
    'max-minutes': { type: 'string', default: '20' },
    standby: { type: 'boolean', default: false },
  },
});
const handoffs = Number(values.handoffs);
const crashRate = Number(values['crash-rate']);
const concurrency = Number(values.concurrency);
const maxMs = Number(values['max-minutes']) * 60_000;
if (!Number.isInteger(handoffs) || handoffs < 1 || !(crashRate >= 0 && crashRate <= 1) || !(concurrency >= 1) || !(maxMs > 0)) {
  console.error('usage: node bench/soak.mjs [--handoffs N>=1] [--crash-rate 0..1] [--concurrency N] [--seed N] [--max-minutes M] [--standby]');
  process.exit(2);
}

// A small seeded generator (mulberry32), so a run's crash schedule can be repeated.
let seed = Number(values.seed) >>> 0;
const random = () => {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

function stat(pid) {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = text.lastIndexOf(')');
    const rest = text.slice(close + 2).split(' ');
    return { comm: text.slice(text.indexOf('(') + 1, close), state: rest[0], ppid: Number(rest[1]) };
  } catch {
    return undefined;
  }
}
function allPids() {
  return fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e)).map(Number);
}
const titled = (name) => allPids().filter((p) => { const s = stat(p); return s?.comm === name && s.state !== 'Z'; });
/** Zombies among our processes: titled `name`, or children of this process or its ancestors (the subreaper). */
function zombies(name) {
  const ancestors = new Set();
  for (let p = process.pid; p > 1; p = stat(p)?.ppid ?? 1) ancestors.add(p);
  return allPids().filter((p) => { const s = stat(p); return s?.state === 'Z' && (s.comm === name || ancestors.has(s.ppid)); });
}
function usage(pid) {
  try {
    const fds = fs.readdirSync(`/proc/${pid}/fd`).length;
    const rss = Number(/^VmRSS:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
    return { pid, fds, rssKiB: rss };
  } catch {
    return { pid, fds: NaN, rssKiB: NaN };
  }
}
const readPid = (file) => {
  try {
    return Number(fs.readFileSync(file, 'utf8').split('\n')[0]) || undefined;
  } catch {
    return undefined;
  }
};
const quiet = { out: () => {}, err: (t) => lastErr.push(t), cwd: ROOT };
let lastErr = [];

async function waitFor(check, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = check();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
  return check();
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkover-soak-'));
const pidfile = path.join(dir, 'app.pid');
const logfile = path.join(dir, 'app.log');
const crashFile = path.join(dir, 'crash');
const name = `soak${process.pid % 100000}`;
fs.writeFileSync(crashFile, 'ok\n');
const t0 = Date.now();

const launcher = await new Promise((resolve) => {
  const p = spawn(process.execPath, [APP, '--daemon', '-p', pidfile, '-l', logfile, '--name', name, '--crash-file', crashFile, '--upgrade-timeout', '10', '--drain-timeout', '5', ...(values.standby ? ['--standby'] : [])], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (c) => (out += c));
  p.stderr.on('data', (c) => (out += c));
  p.on('close', (code) => resolve({ code, out }));
});
if (launcher.code !== 0) {
  console.error(`soak: the daemon did not start:\n${launcher.out}`);
  process.exit(1);
}
const port = Number(/127\.0\.0\.1:(\d+)/.exec(launcher.out)[1]);
const first = readPid(pidfile);
let exitCode = 0;
const result = { handoffs, crashRate, succeeded: 0, rolledBack: 0, refused: 0, unexpected: [], crashPoints: {} };
let load;
try {
  load = startLoad({ port, keepAlive: true, concurrency, maxMs, timeoutMs: 10_000 });
  await waitFor(() => load.stats.ok >= 200, 10_000); // warm: connections open, JIT warm
  const start = usage(readPid(pidfile));
  result.start = start;

  for (let i = 1; i <= handoffs && Date.now() - t0 < maxMs; i++) {
    const crash = random() < crashRate;
    fs.writeFileSync(crashFile, crash ? 'crash\n' : 'ok\n');
    const before = readPid(pidfile);
    lastErr = [];
    const code = await cli(['reload', '-p', pidfile, '--timeout', '20'], quiet);
    const text = lastErr.join(' ');
    if (code === 0) result.succeeded++;
    else if (/rolled-back/.test(text)) result.rolledBack++;
    else if (/refused/.test(text)) result.refused++;
    if ((code === 0) === crash || (code !== 0 && !/rolled-back/.test(text))) result.unexpected.push(`#${i} crash=${crash} exit ${code}: ${text.trim()}`);
    // The replaced generation drains its keep-alive connections and exits; wait for it
    // (bounded), so generations do not pile up beyond what a real reload cadence would see.
    if (code === 0) {
      await waitFor(() => {
        const s = stat(before); // read once: it may exit between two reads
        return s === undefined || s.state === 'Z';
      }, 10_000);
    }
    if (i % 50 === 0) console.error(`soak: ${i}/${handoffs} handoffs, ${load.stats.requests} requests, ${load.stats.failed} failed, ${result.rolledBack} rolled back`);
  }
  const stats = await load.stop();
  load = undefined;
  // Let the last replaced generation finish, then count.
  await waitFor(() => titled(name).length === 1, 10_000);
  const serving = readPid(pidfile);
  result.end = usage(serving);
  result.requests = stats.requests;
  result.ok = stats.ok;
  result.failed = stats.failed;
  result.failedByKind = stats.byKind;
  result.errors = stats.errors.slice(0, 5);
  result.generationsLeft = titled(name).length;
  result.zombies = zombies(name).length;
  for (const m of fs.readFileSync(logfile, 'utf8').matchAll(/crashing at point (\d)/g)) result.crashPoints[m[1]] = (result.crashPoints[m[1]] ?? 0) + 1;
  result.seconds = Math.round((Date.now() - t0) / 1000);
  if (values.standby) {
    const log = fs.readFileSync(logfile, 'utf8');
    const count = (re) => [...log.matchAll(re)].length;
    result.standby = { used: count(/: used standby PID/g), discarded: count(/: discarded standby PID/g), diedWaiting: count(/standby PID \d+ .* while waiting/g) };
  }

  console.log(`forkover soak: ${result.succeeded + result.rolledBack + result.refused} handoffs in ${result.seconds} s under keep-alive load (concurrency ${concurrency}), crash rate ${crashRate}`);
  console.log(`  requests           ${result.requests}   failed ${result.failed} ${JSON.stringify(result.failedByKind)}   (target 0 failed)`);
  console.log(`  handoffs           succeeded ${result.succeeded}, rolled back ${result.rolledBack}, refused ${result.refused}, unexpected outcomes ${result.unexpected.length}`);
  console.log(`  crashes injected   by start-up point ${JSON.stringify(result.crashPoints)}`);
  console.log(`  generations left   ${result.generationsLeft}   (target 1)`);
  console.log(`  zombies            ${result.zombies}   (target 0)`);
  if (result.standby) console.log(`  --standby          used ${result.standby.used}, discarded ${result.standby.discarded}, died while waiting ${result.standby.diedWaiting}`);
  console.log(`  serving generation start PID ${start.pid}: ${start.fds} fds, RSS ${start.rssKiB} KiB; end PID ${result.end.pid}: ${result.end.fds} fds, RSS ${result.end.rssKiB} KiB`);
  for (const u of result.unexpected.slice(0, 10)) console.log(`  unexpected: ${u}`);
  for (const e of result.errors) console.log(`  error: ${e}`);
  console.log(JSON.stringify(result));
  if (result.failed > 0 || result.generationsLeft !== 1 || result.zombies > 0 || result.unexpected.length > 0 || serving === first) exitCode = 1;
} catch (err) {
  console.error(`soak: ${err.stack ?? err}`);
  exitCode = 1;
} finally {
  if (load) await load.stop();
  await cli(['stop', '-p', pidfile, '--timeout', '10'], quiet);
  // The last generation's standby ends with it (EOF on its channel, or discarded at stop).
  if (values.standby) {
    const last = [...fs.readFileSync(logfile, 'utf8').matchAll(/standby PID (\d+) started/g)].at(-1)?.[1];
    if (last !== undefined && !(await waitFor(() => { const s = stat(Number(last)); return s === undefined || s.state === 'Z'; }, 5_000))) {
      console.error(`soak: standby PID ${last} still runs after stop`);
      try {
        process.kill(Number(last), 'SIGKILL');
      } catch {
        // gone
      }
      exitCode = 1;
    }
  }
  // Anything of ours still alive (it should not be): kill by PID, never by name.
  for (const p of titled(name)) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // gone
    }
  }
  if (exitCode === 0) fs.rmSync(dir, { recursive: true, force: true });
  else console.error(`soak: kept ${dir} (log: ${logfile})`);
}
process.exit(exitCode);
