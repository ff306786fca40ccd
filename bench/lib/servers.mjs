// What the benchmarks share: fresh loopback addresses, starting and stopping each kind of
// server (forkover as a library or under `forkover start`, a plain process, a bare
// shared-fd pair, PM2 cluster mode), wrk, and /proc readings. Every process started here
// is recorded and killed by PID on exit.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** examples/hello.js and bin/forkover.js; snapshotBuild() points them at a private copy. */
export const paths = { hello: path.join(ROOT, 'examples/hello.js'), cli: path.join(ROOT, 'bin/forkover.js') };

/**
 * A Markdown table. `columns`: [title, 'l' | 'r'] pairs (left- or right-aligned);
 * `rows`: arrays of cells in the same order.
 */
export function markdownTable(columns, rows) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(columns.map(([t]) => t)), line(columns.map(([, a]) => (a === 'r' ? '---:' : '---'))), ...rows.map(line)].join('\n');
}

/** The load client's failures as one cell: "total (refused/reset/timeout/non-2xx/other)". */
export const FAILED_COLUMN = 'failed (refused/reset/timeout/non-2xx/other)';
export function failedCell(r) {
  const f = r.failures;
  return `${r.failed} (${f.refused}/${f.reset}/${f.timeout}/${f.non2xx}/${f.other})`;
}

/**
 * Call `fn(i)` `n` times, spread evenly over `totalMs` (the i-th at (i + 1)/(n + 1) of
 * it, each after the previous one finished), then wait out the rest of `totalMs`.
 */
export async function spreadOver(totalMs, n, fn) {
  const t0 = Date.now();
  const slot = totalMs / (n + 1);
  for (let i = 0; i < n; i++) {
    const due = t0 + slot * (i + 1);
    if (Date.now() < due) await delay(due - Date.now());
    await fn(i);
  }
  const remaining = t0 + totalMs - Date.now();
  if (remaining > 0) await delay(remaining);
}

/** The value after `--name` on this process's command line, or `dflt`. */
export function cliArg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
}
const PLAIN = path.join(ROOT, 'bench/servers/plain.mjs');
const OPTIONS_APP = path.join(ROOT, 'bench/servers/options.mjs');
const SHARED = path.join(ROOT, 'bench/servers/shared.mjs');
const PM2_APP = path.join(ROOT, 'bench/servers/pm2-app.cjs');
const PM2_BIN = path.join(ROOT, 'node_modules/pm2/bin/pm2');

const started = new Set(); // PIDs to kill at exit
const tmpdirs = [];
const pidfiles = new Set(); // daemons' pidfiles: a generation started mid-handoff is named only there

/** Kill everything this process started, by PID, and remove temp dirs. */
export function killAll() {
  for (const pidfile of pidfiles) {
    // The sidecar names each process of the daemon with its start time: a PID counts as
    // ours only while it has that start time, so never a recycled one. (Not the command
    // line: a daemon sets its process title, which overwrites it.)
    let meta;
    try {
      meta = JSON.parse(fs.readFileSync(`${pidfile}.meta`, 'utf8'));
    } catch {
      continue; // no sidecar, or between writes; the subreaper sweep below still applies
    }
    for (const p of [meta.leader, ...(meta.workers ?? []), ...(meta.draining ?? []), meta.standby]) {
      if (p?.pid && p.starttime && startTicks(p.pid) === p.starttime) track(p.pid);
    }
  }
  // Under the benchmark's own subreaper (reexecUnderSubreaper), every process reparented
  // to it is a daemon or a generation this benchmark started: nothing else runs below it.
  if (process.env.FORKOVER_BENCH_REAPER === '1') {
    for (const e of fs.readdirSync('/proc')) {
      if (/^\d+$/.test(e) && Number(e) !== process.pid && parentPid(Number(e)) === process.ppid) track(Number(e));
    }
  }
  for (const pid of started) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  started.clear();
  for (const d of tmpdirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

/** Field `n` (1-based, as in proc(5)) of /proc/PID/stat, as a number; undefined if gone. */
function statField(pid, n) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields 1 and 2 (pid, comm) end at the last ')': comm may hold spaces.
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[n - 3]);
  } catch {
    return undefined;
  }
}
const parentPid = (pid) => statField(pid, 4);
/** When the process started, in clock ticks after boot (what the sidecar's `starttime` records). */
const startTicks = (pid) => statField(pid, 22);

export function tmpdir() {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'forkover-bench-'));
  tmpdirs.push(d);
  return d;
}

/**
 * Handoffs reparent every replaced generation, and PID 1 here may not reap orphans, so a
 * benchmark reruns itself under `tini -s` (a subreaper) unless it already is. Resolves
 * true in the parent, which should then do nothing more (the exit code is forwarded).
 */
export async function reexecUnderSubreaper() {
  if (process.env.FORKOVER_BENCH_REAPER === '1') return false;
  try {
    execFileSync('tini', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error('tini (a subreaper for the daemons the benchmark starts) is not installed; run: apt-get update && apt-get install -y tini');
  }
  const child = spawn('tini', ['-s', '--', process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, FORKOVER_BENCH_REAPER: '1' },
  });
  // Before the exit(130) listener installed at import, or the benchmark under tini would
  // never hear of the signal and keep running (and its daemons with it).
  for (const sig of ['SIGINT', 'SIGTERM']) process.prependListener(sig, () => child.kill(sig));
  process.exitCode = await new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
  return true;
}

/**
 * A benchmark's entry: rerun under a subreaper (reexecUnderSubreaper), then `main()`,
 * whose result is the exit code; an error is printed after `name` and exits 2. Every
 * process started is killed by PID at the end, whatever happened.
 */
export async function benchMain(name, main) {
  try {
    if (!(await reexecUnderSubreaper())) process.exitCode = await main();
  } catch (err) {
    process.stderr.write(`${name}: ${err.stack ?? err.message}\n`);
    process.exitCode = 2;
  } finally {
    killAll();
  }
}

/**
 * Copy dist/, bin/, examples/ and package.json to a temp directory (node_modules linked)
 * and run forkover from there. Others rebuild dist/ while a benchmark runs; a handoff's
 * new generation loads dist/ afresh, and a half-written dist/ would fail it, which is not
 * what the benchmark measures. The copy resolves `forkover` through its own package.json.
 */
export function snapshotBuild() {
  const dir = tmpdir();
  for (const d of ['dist', 'bin', 'examples']) fs.cpSync(path.join(ROOT, d), path.join(dir, d), { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(dir, 'package.json'));
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  paths.hello = path.join(dir, 'examples/hello.js');
  paths.cli = path.join(dir, 'bin/forkover.js');
  return dir;
}

/**
 * Fail loudly, with the command that fixes it, when a program or package is missing.
 * `wrk: false` for a benchmark that drives only the Node load client (bench/timeline.mjs).
 */
export function requireTools({ pm2 = false, wrk = true } = {}) {
  try {
    if (wrk) execFileSync('wrk', ['--version'], { stdio: 'ignore' });
  } catch (err) {
    if (err.code === 'ENOENT') throw new Error('wrk is not installed; run: apt-get update && apt-get install -y wrk');
    // wrk --version exits 1 after printing its version: that is fine
  }
  if (pm2 && !fs.existsSync(PM2_BIN)) throw new Error('pm2 (a devDependency used by the benchmark) is missing; run: npm install');
  if (!fs.existsSync(path.join(ROOT, 'dist/index.js'))) throw new Error('dist/ is missing; run: npm run build');
}

// 127.0.0.2, 127.0.0.3, …: each new-connection run gets a fresh destination address, so
// it never meets the TIME_WAIT sockets of an earlier run.
let nextHost = 2;
export function freshLoopback() {
  const n = nextHost++;
  if (n > 250 * 250) throw new Error('out of fresh loopback addresses');
  return `127.0.${Math.floor(n / 250)}.${(n % 250) + 1}`;
}

/** A free port on `host` (for PM2, which needs a port before it starts). */
export function freePort(host) {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen({ host, port: 0 }, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Spawn and record a process; `lines` gets every stdout line. */
function launch(file, args, opts = {}) {
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  started.add(child.pid);
  child.on('exit', () => started.delete(child.pid));
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (c) => (out += c));
  child.stderr?.setEncoding('utf8').on('data', (c) => (err += c));
  child.output = () => out;
  child.errors = () => err;
  child.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return child;
}

/** Wait for stdout to match `re` (under a deadline); resolves with the match. */
async function waitFor(child, re, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = child.output().match(re);
    if (m) return m;
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${what} exited: ${child.errors().slice(-500)}`);
    if (Date.now() > deadline) throw new Error(`${what} not ready within ${timeoutMs} ms: ${child.errors().slice(-500)}`);
    await delay(2);
  }
}

export function run(file, args, opts = {}) {
  const child = launch(file, args, opts);
  return child.exited.then((r) => ({ ...r, stdout: child.output(), stderr: child.errors() }));
}

/** Record a PID we did not spawn directly (a daemon, a worker) so it is killed at exit. */
export function track(pid) {
  if (Number.isInteger(pid) && pid > 1) started.add(pid);
}

/** One plain process. Resolves with { host, port, pids, stop, startMs } (spawn to listening). */
export async function startPlain(host) {
  const t0 = performance.now();
  // detached: in a session of its own, like the forkover daemon and PM2's processes, so
  // that every server meets the scheduler (autogroups) the same way.
  const child = launch(process.execPath, [PLAIN, '--host', host, '--port', '0'], { detached: true });
  const m = await waitFor(child, /listening (\d+)/, 10_000, 'plain server');
  const startMs = performance.now() - t0;
  return { kind: 'plain', host, port: Number(m[1]), pids: [child.pid], startMs, stop: () => stopChild(child) };
}

/** N plain processes on one shared listening fd. */
export async function startShared(host, procs = 2) {
  const child = launch(process.execPath, [SHARED, '--host', host, '--port', '0', '--procs', String(procs)], { detached: true });
  const m = await waitFor(child, /listening (\d+) ([\d,]+)/, 10_000, 'shared-fd server');
  const pids = m[2].split(',').map(Number);
  pids.forEach(track);
  return {
    kind: 'shared',
    host,
    port: Number(m[1]),
    pids,
    stop: async () => {
      await stopChild(child);
      for (const p of pids) await killPid(p);
    },
  };
}

/**
 * A forkover daemon serving examples/hello.js's handler, in one of two forms. Resolves
 * once the launcher exited 0.
 *  - `form: 'library'` (the default): examples/hello.js, which calls forkover() and
 *    daemon.listen() itself, on a port the daemon picks.
 *  - `form: 'start'`: `forkover start --daemon … -- node bench/servers/plain.mjs --host H
 *    --port P`, the plain baseline server unchanged. Its listen() on port 0 would bind
 *    afresh and not be handed over (README, "Run an existing app unchanged"), so P is a
 *    free port picked here.
 *  - `form: 'options'`: bench/servers/options.mjs, plain.mjs's server calling forkover()
 *    with an options object, without commander (the launcher's cost with forkover alone).
 */
export async function startForkover(host, { workers = 1, extra = [], form = 'library' } = {}) {
  if (!['library', 'start', 'options'].includes(form)) throw new TypeError(`startForkover: form is 'library', 'start' or 'options', not ${JSON.stringify(form)}`);
  const dir = tmpdir();
  const name = { library: 'hello', start: 'plain', options: 'options' }[form];
  const pidfile = path.join(dir, `${name}.pid`);
  const logfile = path.join(dir, `${name}.log`);
  pidfiles.add(pidfile);
  const flags = ['--daemon', '-p', pidfile, '-l', logfile, '--workers', String(workers), ...extra];
  const args =
    form === 'start'
      ? [paths.cli, 'start', ...flags, '--', process.execPath, PLAIN, '--host', host, '--port', String(await freePort(host))]
      : [form === 'options' ? OPTIONS_APP : paths.hello, '--host', host, '--port', '0', ...flags];
  const t0 = performance.now();
  const r = await run(process.execPath, args, { cwd: dir });
  const launcherMs = performance.now() - t0;
  if (r.code !== 0) throw new Error(`forkover launcher exited ${r.code}: ${r.stderr}`);
  const pid = readPidfile(pidfile);
  track(pid);
  const meta = JSON.parse(fs.readFileSync(`${pidfile}.meta`, 'utf8'));
  const pids = meta.workers.map((w) => w.pid);
  pids.forEach(track);
  const port = Number(/listening on [^\n]*?:(\d+)/.exec(r.stdout)[1]);
  return {
    kind: 'forkover',
    form,
    host,
    port,
    pid,
    pids,
    pidfile,
    logfile,
    launcherMs,
    /** `forkover reload`: synchronous, exits 0 once the new generation serves. */
    reload: () => run(process.execPath, [paths.cli, 'reload', '-p', pidfile, '--timeout', '30']),
    stop: async () => {
      const s = await run(process.execPath, [paths.cli, 'stop', '-p', pidfile, '--timeout', '10']);
      if (s.code !== 0) throw new Error(`forkover stop exited ${s.code}: ${s.stderr}`);
    },
  };
}

/** The last `n` lines of a log file, indented, to explain a failure. */
export function logTail(file, n = 8) {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n).map((l) => `    | ${l}`).join('\n');
  } catch (err) {
    return `    (cannot read ${file}: ${err.message})`;
  }
}

export function readPidfile(pidfile) {
  try {
    const n = parseInt(fs.readFileSync(pidfile, 'utf8'), 10);
    return Number.isInteger(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** PM2 with its own PM2_HOME; `stop()` of the last server kills its God daemon by PID. */
export function pm2Home() {
  const home = tmpdir();
  const env = { ...process.env, PM2_HOME: home, PM2_DISCRETE_MODE: 'true' };
  const pm2 = (args) => run(process.execPath, [PM2_BIN, ...args], { env });
  return {
    home,
    /** PM2 cluster mode with `instances` processes on host:port. */
    async start(host, instances = 2) {
      const port = await freePort(host);
      const name = `bench${port}`;
      const r = await run(process.execPath, [PM2_BIN, 'start', PM2_APP, '-i', String(instances), '--name', name], {
        env: { ...env, HOST: host, PORT: String(port) },
      });
      if (r.code !== 0) throw new Error(`pm2 start exited ${r.code}: ${r.stderr}${r.stdout}`);
      trackGod();
      // Ready once every instance has answered.
      const seen = new Set();
      const deadline = Date.now() + 15_000;
      while (seen.size < instances) {
        if (Date.now() > deadline) throw new Error(`PM2 cluster on ${host}:${port}: only ${seen.size} of ${instances} instances answered`);
        const body = await httpGet(host, port).catch(() => '');
        const pid = Number(body.trim().split(' ').pop());
        if (pid > 0) seen.add(pid);
        else await delay(20);
      }
      [...seen].forEach(track);
      const god = readPidfile(path.join(home, 'pm2.pid'));
      return {
        kind: 'pm2',
        host,
        port,
        pids: [...seen],
        // PM2's master (its God daemon) accepts every connection and passes it on.
        cpuPids: [...seen, ...(god ? [god] : [])],
        /** `pm2 reload`: PM2's zero-downtime reload of the cluster, one instance at a time. */
        reload: () => pm2(['reload', name]),
        stop: async () => {
          const d = await pm2(['delete', name]);
          if (d.code !== 0) throw new Error(`pm2 delete exited ${d.code}: ${d.stderr}`);
          for (const p of seen) await killPid(p);
        },
      };
    },
    /** Kill PM2's God daemon by the PID in its PM2_HOME. */
    async kill() {
      const god = readPidfile(path.join(home, 'pm2.pid'));
      if (god) await killPid(god, 'SIGTERM');
    },
  };
  function trackGod() {
    track(readPidfile(path.join(home, 'pm2.pid')));
  }
}

export function httpGet(host, port, agent = false) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path: '/', agent, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

async function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await child.exited;
  clearTimeout(t);
}

/** Signal a PID and wait (bounded) until it is gone; SIGKILL after 5 s. */
export async function killPid(pid, sig = 'SIGKILL') {
  try {
    process.kill(pid, sig);
  } catch {
    started.delete(pid);
    return;
  }
  if (!(await waitGone([pid], 5_000))) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  started.delete(pid);
}

/**
 * Wait until none of `pids` is alive (alive() below), for at most `ms`. They need not be
 * our children, so there is no exit event to wait for: /proc is read every 10 ms.
 * Resolves true once all are gone, false at the deadline.
 */
export async function waitGone(pids, ms) {
  const deadline = Date.now() + ms;
  while (pids.some(alive)) {
    if (Date.now() > deadline) return false;
    await delay(10);
  }
  return true;
}

/** Alive and not a zombie. */
export function alive(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Resident set size in KiB, from /proc/PID/status. */
export function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/**
 * CPU time (user + system) the processes have used so far, in microseconds, from
 * /proc/PID/stat. A process that is gone counts 0, so take it before stopping them.
 * Unlike throughput, CPU time per request hardly moves when other work shares the cores.
 */
export function cpuMicros(pids) {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(rest[11]) + Number(rest[12]);
    } catch {
      // gone
    }
  }
  return (ticks * 1e6) / CLK_TCK;
}

export function fdCount(pid) {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

/**
 * wrk against http://host:port/ for `seconds` with `connections` connections on one
 * thread. `newConnection` sends "Connection: close", so every request opens a connection.
 */
export async function wrk(host, port, { seconds, connections = 32, newConnection }) {
  const args = ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '5s', ...(newConnection ? ['-H', 'Connection: close'] : []), `http://${host}:${port}/`];
  const r = await run('wrk', args);
  if (r.code !== 0) throw new Error(`wrk exited ${r.code}: ${r.stderr}`);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1]);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(r.stdout);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(r.stdout)?.[1] ?? 0);
  return {
    rps,
    errors: sock ? { connect: +sock[1], read: +sock[2], write: +sock[3], timeout: +sock[4] } : { connect: 0, read: 0, write: 0, timeout: 0 },
    non2xx,
  };
}

export const median = (xs) => {
  const s = [...xs].filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Machine facts for the report. */
export function machine() {
  let free = '';
  try {
    free = execFileSync('free', ['-h'], { encoding: 'utf8' }).split('\n')[1]?.replace(/\s+/g, ' ').trim() ?? '';
  } catch {
    free = `${Math.round(os.totalmem() / 2 ** 30)} GiB`;
  }
  return { date: new Date().toISOString(), nproc: os.availableParallelism(), cpu: os.cpus()[0]?.model ?? '?', memory: free, node: process.version, loadavg: os.loadavg().map((x) => x.toFixed(2)).join(' ') };
}
