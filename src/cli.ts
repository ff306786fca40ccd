/**
 * The control CLI: `forkover status|stop|reload -p FILE`. The only place that prints
 * for the CLI and picks its exit codes (LSB, contracts R6.1, R6.2).
 *
 * Every signal it sends goes to a PID verified as this daemon first (R2.6, R10.3): a
 * pidfile naming a recycled PID or a zombie gets a warning and no signal.
 */
import * as path from 'node:path';
import { Command, CommanderError, Option, InvalidArgumentError } from 'commander';
import { EXIT, STATUS_EXIT, describe, isForkoverError } from './errors.js';
import { assertSupportedPlatform } from './forkover.js';
import { DEFAULT_RELOAD_TIMEOUT_S, DEFAULT_STOP_TIMEOUT_S, RELOAD_MARGIN_S } from './defaults.js';
import * as fs from 'node:fs';
import { type DaemonState, readSnapshot, recordFor, removeIfOwn, sidecarProblem, statePath } from './pidfile.js';
import { type Identity, type Verdict, isPending, isWaitingStandby, pollUntil, processUid, readStat, signalPid, verify, waitForExit } from './proc.js';
import { fileURLToPath } from 'node:url';
import { addForkoverOptions } from './options.js';
import { INIT_SCRIPT_KINDS, buildSpec, formatRendered, renderInitScript } from './init-scripts/index.js';

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
  cwd: string;
  /** The platform to check (default `process.platform`); tests fake Windows with it. */
  platform?: NodeJS.Platform;
}

const defaultIo: Io = {
  out: (t) => process.stdout.write(t.endsWith('\n') ? t : `${t}\n`),
  err: (t) => process.stderr.write(t.endsWith('\n') ? t : `${t}\n`),
  cwd: process.cwd(),
};

function seconds(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`takes a number of seconds greater than 0, not "${value}"`);
  return n;
}

/** What the pidfile says, checked: the basis of every command. */
type Found =
  | { kind: 'none' } // no pidfile
  | { kind: 'invalid'; message: string }
  | { kind: 'stale'; pid: number; verdict: Verdict } // dead or foreign
  | { kind: 'unknown'; pid: number; verdict: Verdict }
  | { kind: 'ours'; pid: number; state: DaemonState };

function find(pidfile: string): Found {
  let snap: ReturnType<typeof readSnapshot>;
  try {
    snap = readSnapshot(pidfile);
  } catch (err) {
    return { kind: 'invalid', message: describe(err) };
  }
  if (snap.pid === undefined) return { kind: 'none' };
  // A sidecar of another format or an incompatible protocol (protocol.ts): say so, with
  // both versions, rather than take its PID for a stale one and remove or signal it.
  const problem = sidecarProblem(pidfile);
  if (problem !== undefined) return { kind: 'invalid', message: problem };
  const verdict = verify(snap.pid, recordFor(snap.state, snap.pid));
  if (verdict.kind === 'ours') {
    const distrust = untrusted(pidfile, snap.pid);
    if (distrust !== undefined) return { kind: 'stale', pid: snap.pid, verdict: { kind: 'foreign', reason: distrust } };
    return { kind: 'ours', pid: snap.pid, state: snap.state! };
  }
  if (verdict.kind === 'unknown') return { kind: 'unknown', pid: snap.pid, verdict };
  return { kind: 'stale', pid: snap.pid, verdict };
}

/**
 * A pidfile or sidecar that a user other than root owns (a daemon run with --user owns
 * both) may name only that user's processes (contracts R10.2, R3.2): otherwise that user
 * could forge a record of, say, root's sshd, and root's `forkover stop` would signal it.
 * Returns why `pid` is not to be trusted, or undefined.
 */
function untrusted(pidfile: string, pid: number): string | undefined {
  for (const file of [pidfile, statePath(pidfile)]) {
    let owner: number;
    try {
      owner = fs.statSync(file).uid;
    } catch {
      continue;
    }
    if (owner === 0) continue;
    const runsAs = processUid(pid);
    if (runsAs !== owner) {
      return `${file} belongs to uid ${owner}, but PID ${pid} runs as uid ${runsAs ?? '?'}: a file an unprivileged user controls may only name that user's processes`;
    }
  }
  return undefined;
}

/** Every process of the daemon: the leader, its workers, and verified draining generations. */
function members(pidfile: string, pid: number, state: DaemonState): Identity[] {
  const all = [state.leader, ...state.workers, ...state.draining];
  const seen = new Set<number>();
  return all.filter((g) => {
    if (seen.has(g.pid)) return false;
    seen.add(g.pid);
    return g.pid === pid || (verify(g.pid, g).kind === 'ours' && untrusted(pidfile, g.pid) === undefined);
  });
}

function uptime(since: string): string {
  let s = Math.max(0, Math.round((Date.now() - Date.parse(since)) / 1000));
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  return `${d ? `${d}d ` : ''}${h || d ? `${h}h ` : ''}${m || h || d ? `${m}m ` : ''}${s}s`;
}

/** The shape `status --json` prints (documented in the README). */
export interface StatusJson {
  status: 'running' | 'dead' | 'stopped' | 'unknown';
  exitCode: number;
  pidfile: string;
  pid: number | null;
  message: string;
  generation: number | null;
  startedAt: string | null;
  uptimeSeconds: number | null;
  listeners: { name: string; address: string }[];
  workers: { pid: number; starttime: number }[];
  draining: { pid: number; starttime: number }[];
  lastHandoff: DaemonState['lastHandoff'];
  standby: { pid: number; starttime: number } | null;
  /** forkover's log, and whether writes to it fail (a full disk); null without a record (issue 17). */
  log: { path: string | null; failing: { since: string; error: string } | null } | null;
}

function status(pidfile: string, json: boolean, io: Io): number {
  const f = find(pidfile);
  const base: StatusJson = {
    status: 'unknown',
    exitCode: STATUS_EXIT.UNKNOWN,
    pidfile,
    pid: null,
    message: '',
    generation: null,
    startedAt: null,
    uptimeSeconds: null,
    listeners: [],
    workers: [],
    draining: [],
    lastHandoff: null,
    standby: null,
    log: null,
  };
  let r: StatusJson;
  switch (f.kind) {
    case 'none':
      r = { ...base, status: 'stopped', exitCode: STATUS_EXIT.NOT_RUNNING, message: `not running (no pidfile ${pidfile})` };
      break;
    case 'invalid':
      r = { ...base, message: `status unknown: ${f.message}` };
      break;
    case 'unknown':
      r = { ...base, pid: f.pid, message: `status unknown: ${reasonOf(f.verdict)}` };
      break;
    case 'stale':
      r = {
        ...base,
        status: 'dead',
        exitCode: STATUS_EXIT.DEAD_PIDFILE_EXISTS,
        pid: f.pid,
        message: `dead, but pidfile ${pidfile} exists: ${reasonOf(f.verdict)}`,
      };
      break;
    case 'ours': {
      const s = f.state;
      const draining = s.draining.filter((d) => verify(d.pid, d).kind === 'ours');
      r = {
        ...base,
        status: 'running',
        exitCode: STATUS_EXIT.RUNNING,
        pid: f.pid,
        generation: s.leader.generation,
        startedAt: s.leader.startedAt,
        uptimeSeconds: Math.max(0, Math.round((Date.now() - Date.parse(s.leader.startedAt)) / 1000)),
        listeners: s.listeners,
        workers: s.workers.map((w) => ({ pid: w.pid, starttime: w.starttime })),
        draining: draining.map((d) => ({ pid: d.pid, starttime: d.starttime })),
        lastHandoff: s.lastHandoff,
        standby: s.standby && isWaitingStandby(s.standby, s.leader) ? { pid: s.standby.pid, starttime: s.standby.starttime } : null,
        log: s.log ?? null,
        message: `running as PID ${f.pid}, up ${uptime(s.leader.startedAt)}, generation ${s.leader.generation}`,
      };
      break;
    }
  }
  if (json) {
    io.out(JSON.stringify(r, null, 2));
    return r.exitCode;
  }
  if (r.status !== 'running') {
    (r.status === 'stopped' ? io.out : io.err)(`${r.status === 'dead' && f.kind === 'stale' && f.verdict.kind === 'foreign' ? 'warning: ' : ''}${r.message}`);
    return r.exitCode;
  }
  const lines = [r.message];
  for (const l of r.listeners) lines.push(`  listener ${l.name}: ${l.address}`);
  if (r.workers.length > 1) lines.push(`  workers: PID ${r.workers.map((w) => w.pid).join(', ')} (the first is the leader)`);
  for (const d of r.draining) lines.push(`  draining: PID ${d.pid}`);
  if (r.standby) lines.push(`  standby: PID ${r.standby.pid}, waiting for the next handoff`);
  if (r.log?.failing) {
    const { since, error } = r.log.failing;
    lines.push(`  log: ${r.log.path ?? 'stderr'}: writes failing since ${since} (${error}); forkover's lines are dropped and counted, and the count is logged once writes work again`);
  }
  if (r.lastHandoff) {
    const h = r.lastHandoff;
    lines.push(`  last handoff: ${h.outcome}${h.newPid ? ` (PID ${h.oldPid} -> ${h.newPid})` : ''}${h.durationMs !== null ? `, ${h.durationMs} ms` : ''}${h.reason ? `: ${h.reason}` : ''}`);
  }
  io.out(lines.join('\n'));
  return r.exitCode;
}

function reasonOf(v: Verdict): string {
  return v.kind === 'ours' ? `PID ${v.stat.pid} is running` : v.reason;
}

/** Why a command cannot act on an invalid or unverifiable pidfile. */
function whyUnknown(f: Found & { kind: 'invalid' | 'unknown' }): string {
  return f.kind === 'invalid' ? f.message : `cannot tell who PID ${f.pid} is: ${reasonOf(f.verdict)}`;
}

/**
 * The pidfile names a PID that is not this daemon. A dead one (gone, or a zombie) is said
 * to be dead, not "not this daemon" (issue 17); `removed`: stop removed the pidfile.
 */
function warnStale(f: Found & { kind: 'stale' }, action: string, io: Io, removed = false): void {
  if (f.verdict.kind === 'dead') {
    const what = / zombie/.test(f.verdict.reason) ? 'is a zombie (it exited; nothing has reaped it yet)' : 'is not running';
    io.err(`warning: ${action}: pidfile names PID ${f.pid}, which ${what}; ${removed ? 'removed the stale pidfile' : action === 'reload' ? 'start the daemon instead' : 'nothing to signal'}`);
    return;
  }
  io.err(`warning: ${action}: pidfile names PID ${f.pid}, which is not this daemon (${reasonOf(f.verdict)}); not signalling it`);
}

async function stop(pidfile: string, timeoutS: number, io: Io): Promise<number> {
  const f = find(pidfile);
  if (f.kind === 'none') {
    io.out(`not running (no pidfile ${pidfile})`);
    return EXIT.OK;
  }
  if (f.kind === 'invalid' || f.kind === 'unknown') {
    io.err(`cannot stop: ${whyUnknown(f)}`);
    return EXIT.FAILURE;
  }
  if (f.kind === 'stale') {
    const removed = f.verdict.kind === 'dead' && removeIfOwn(pidfile, f.pid);
    warnStale(f, 'stop', io, removed);
    io.out('not running');
    return EXIT.OK;
  }
  const targets = members(pidfile, f.pid, f.state);
  for (const t of targets) signalPid(t.pid, 'SIGTERM');
  const deadline = Date.now() + timeoutS * 1000;
  const remaining = async () => {
    const left: Identity[] = [];
    for (const t of targets) if (!(await waitForExit(t.pid, Math.max(0, deadline - Date.now())))) left.push(t);
    return left;
  };
  let left = await remaining();
  if (left.length > 0) {
    io.err(`PID ${left.map((t) => t.pid).join(', ')} still running after ${timeoutS} s; sending SIGKILL`);
    for (const t of left) if (verify(t.pid, t).kind === 'ours') signalPid(t.pid, 'SIGKILL');
    for (const t of left) await waitForExit(t.pid, 5_000);
    left = left.filter((t) => verify(t.pid, t).kind === 'ours');
  }
  // A killed daemon could not remove its pidfile (R2.7: remove only if it still names it).
  for (const t of targets) removeIfOwn(pidfile, t.pid);
  if (left.length > 0) {
    io.err(`could not stop PID ${left.map((t) => t.pid).join(', ')}`);
    return EXIT.FAILURE;
  }
  io.out(`stopped (PID ${targets.map((t) => t.pid).join(', ')})`);
  return EXIT.OK;
}

/** A stopped process's state letter, explained; undefined when it runs (or is gone). */
function stoppedState(pid: number): string | undefined {
  const state = readStat(pid)?.state;
  if (state === 'T') return 'state T: stopped by SIGSTOP or job control';
  if (state === 't') return 'state t: stopped by a debugger';
  return undefined;
}

/**
 * Why a reload has no outcome yet, from what the process is doing now, and what will
 * still happen: a handoff that can still run is never reported as failed (issue 17).
 */
function noOutcomeYet(pid: number, pidfile: string): string {
  const stopped = stoppedState(pid);
  const pending = isPending(pid, 'SIGUSR2');
  if (stopped !== undefined) {
    return pending
      ? `it is stopped (${stopped}) with the SIGUSR2 still pending: it will hand over once it resumes (SIGCONT)`
      : `it took the SIGUSR2 and is now stopped (${stopped}): it may still hand over once it resumes (SIGCONT)`;
  }
  if (pending) return `the SIGUSR2 is still pending (it blocks the signal): it may still hand over once it takes it`;
  return `it took the SIGUSR2 but recorded no outcome: its event loop may be blocked, or the handoff is slow; it may still hand over: check "forkover status -p ${pidfile}"`;
}

/**
 * `forkover reload` (R3.5). `timeoutS` null: wait as long as the daemon's own
 * --upgrade-timeout (from its sidecar) plus RELOAD_MARGIN_S, since no outcome can take
 * longer unless the daemon stalls.
 */
async function reload(pidfile: string, timeoutS: number | null, io: Io): Promise<number> {
  const f = find(pidfile);
  if (f.kind === 'none') {
    io.err(`not running (no pidfile ${pidfile}); start it instead`);
    return EXIT.NOT_RUNNING;
  }
  if (f.kind === 'invalid' || f.kind === 'unknown') {
    io.err(`cannot reload: ${whyUnknown(f)}`);
    return EXIT.FAILURE;
  }
  if (f.kind === 'stale') {
    warnStale(f, 'reload', io);
    return EXIT.NOT_RUNNING;
  }
  const before = f.state.handoffSeq;
  const leader = f.state.leader;
  // A stopped process takes a signal only once resumed: the handoff would run whenever
  // that is, long after this command gave up. Say so and send nothing (issue 17).
  const stopped = stoppedState(f.pid);
  if (stopped !== undefined) {
    if (isPending(f.pid, 'SIGUSR2')) {
      io.err(`cannot reload now: PID ${f.pid} is stopped (${stopped}); a SIGUSR2 is already pending, so it will hand over once it resumes (SIGCONT); no other SIGUSR2 was sent`);
    } else {
      io.err(`cannot reload: PID ${f.pid} is stopped (${stopped}); it cannot hand over until it resumes: send it SIGCONT, then reload again; no SIGUSR2 was sent`);
    }
    return EXIT.FAILURE;
  }
  const upgradeS = typeof f.state.upgradeTimeoutMs === 'number' ? f.state.upgradeTimeoutMs / 1000 : undefined;
  const waitS = timeoutS ?? (upgradeS !== undefined ? upgradeS + RELOAD_MARGIN_S : DEFAULT_RELOAD_TIMEOUT_S);
  const bound =
    timeoutS !== null ? '--timeout' : upgradeS !== undefined ? `its --upgrade-timeout ${upgradeS} s + ${RELOAD_MARGIN_S} s` : `the default for a daemon that does not record its --upgrade-timeout`;
  signalPid(f.pid, 'SIGUSR2');
  // The daemon records each handoff's outcome in the sidecar; wait for a newer one. The
  // leader dying without a successor ends the wait early.
  const result = await pollUntil(
    () => {
      let snap: ReturnType<typeof readSnapshot>;
      try {
        snap = readSnapshot(pidfile);
      } catch {
        return undefined;
      }
      const h = snap.state?.lastHandoff;
      // The sidecar is written before the pidfile (publish()): wait for both to name the new PID.
      if (snap.state && h && h.seq > before && (h.outcome !== 'ok' || snap.pid === h.newPid)) return { h, pid: snap.pid };
      if (verify(leader.pid, leader).kind !== 'ours' && snap.pid === leader.pid) return { h: null, pid: snap.pid };
      return undefined;
    },
    waitS * 1000,
    25,
  );
  if (result === undefined) {
    io.err(`no handoff outcome from PID ${f.pid} within ${waitS} s (${bound}): ${noOutcomeYet(f.pid, pidfile)}`);
    return EXIT.FAILURE;
  }
  if (result.h === null) {
    io.err(`PID ${f.pid} exited during the reload without a successor`);
    return EXIT.FAILURE;
  }
  const h = result.h;
  if (h.outcome === 'ok' && h.newPid !== null) {
    const now = find(pidfile);
    if (now.kind === 'ours' && now.pid === h.newPid) {
      io.out(`reloaded: PID ${h.oldPid} -> ${h.newPid} (${h.durationMs} ms)`);
      return EXIT.OK;
    }
    io.err(`the handoff to PID ${h.newPid} reported success, but the pidfile now names ${now.kind === 'ours' || now.kind === 'stale' ? now.pid : 'nothing'}`);
    return EXIT.FAILURE;
  }
  io.err(`reload ${h.outcome}: ${h.reason ?? 'no reason given'}; PID ${h.oldPid} keeps serving`);
  return EXIT.FAILURE;
}

/** Build the program. Exported for the README/--help sync test. */
export function program(io: Io = defaultIo): Command {
  const prog = new Command('forkover')
    .description('control a forkover daemon through its pidfile')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })
    .showHelpAfterError('(run with --help for usage)')
    .enablePositionalOptions();
  const pidOpt = () => new Option('-p, --pidfile <path>', 'the daemon\'s pidfile').makeOptionMandatory();
  prog
    .command('status')
    .description('print the PID, uptime and listeners; exit 0 running, 1 dead with pidfile, 3 not running, 4 unknown')
    .addOption(pidOpt())
    .option('--json', 'print a JSON document (shape: README "status --json")')
    .exitOverride();
  prog
    .command('stop')
    .description('SIGTERM the daemon and its draining generations, SIGKILL after --timeout; exit 0 once none runs')
    .addOption(pidOpt())
    .addOption(new Option('--timeout <s>', 'seconds before SIGKILL').default(DEFAULT_STOP_TIMEOUT_S).argParser(seconds))
    .exitOverride();
  prog
    .command('reload')
    .description('hand over to a new generation and wait: exit 0 when it serves, 1 on rollback, 7 if not running')
    .addOption(pidOpt())
    .addOption(
      new Option('--timeout <s>', 'seconds to wait for the outcome')
        .default(null, `the daemon's --upgrade-timeout + ${RELOAD_MARGIN_S}`)
        .argParser(seconds),
    )
    .exitOverride();
  // issue 14: run an unmodified app (src/start-command.ts); everything after the command's
  // first word is the app's, so forkover's flags come before it (or before "--").
  addForkoverOptions(
    prog
      .command('start')
      .description('run an unmodified Node app as a forkover daemon: forkover start [flags] -- node app.js [args]')
      .argument('<command...>', 'the app: node [node options] script [args], or a script run with this node')
      .addOption(new Option('--listeners <n>', 'listen() calls (ports other than 0, socket paths) that make a generation ready').default(1))
      .passThroughOptions(),
  ).exitOverride();
  // issue 4: print an init script for the user's own app (src/init-scripts/).
  prog
    .command('init-script')
    .description(`print an init script for an app: ${INIT_SCRIPT_KINDS.join('|')}; the app's command line goes after "--"`)
    .argument('<kind>', `init system: ${INIT_SCRIPT_KINDS.join(', ')}`)
    .argument('[command...]', 'the app\'s own command line, after "--", program first with an absolute path')
    .requiredOption('--name <name>', 'service name and process title (at most 15 characters); required: it names the unit or script, the pidfile and the log')
    .option('--user <user>', 'run the service as this user (each init system\'s own way; see the script\'s comments)')
    .option('--group <group>', 'with --user: run with this group')
    .option('--pidfile <path>', 'pidfile (default: /run/<name>/<name>.pid)')
    .option('--logfile <path>', 'the app\'s log file (default: /var/log/<name>/<name>.log, or the journal for systemd-notify and systemd-socket)')
    .option('--listen <addr>', 'systemd-socket: the .socket unit\'s ListenStream=')
    // issue 14: an app that imports nothing of forkover, run by `forkover start`; after
    // "--" come forkover start's own words: [its flags --] the app's command.
    .option('--start', 'the app imports nothing of forkover: launch it with "forkover start"; after "--": [forkover start flags --] the app\'s command')
    .exitOverride();
  return prog;
}

/**
 * The forkover CLI the generated scripts call: this package's bin/forkover.js, by its
 * real path when the script is generated (issue 16.3), run there by an absolute node.
 */
function forkoverBin(): string {
  const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'forkover.js');
  try {
    return fs.realpathSync(bin);
  } catch {
    return bin;
  }
}

/**
 * Whether `program` is a script that finds its node through PATH (`#!/usr/bin/env node`):
 * under an init system's PATH that may be no node, or another one (issue 16.3). False
 * when it cannot be read (the script may be generated on another machine).
 */
function findsNodeOnPath(program: string): boolean {
  let head = '';
  try {
    const fd = fs.openSync(program, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    try {
      const buf = Buffer.alloc(128);
      head = buf.toString('latin1', 0, fs.readSync(fd, buf, 0, buf.length, 0));
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return false;
  }
  return /^#!\s*\S*\/env\s+(-\S+\s+)*node\b/.test(head);
}

/** `forkover init-script`: print the rendered files; 2 with a message naming the flag on bad arguments. */
async function initScript(prog: Command, io: Io): Promise<number> {
  const cmd = prog.commands.find((c) => c.name() === 'init-script')!;
  const [kind, command] = cmd.processedArgs as [string, string[] | undefined];
  let text: string;
  let spec: ReturnType<typeof buildSpec>;
  try {
    spec = buildSpec(kind, cmd.opts(), command ?? [], forkoverBin());
    text = formatRendered(await renderInitScript(spec));
  } catch (err) {
    io.err(`forkover init-script: ${describe(err)}`);
    return isForkoverError(err, 'BAD_OPTION') ? EXIT.BAD_ARGS : isForkoverError(err, 'UNSUPPORTED_PLATFORM') ? EXIT.UNIMPLEMENTED : EXIT.FAILURE;
  }
  // Without --start the app's program is what the init system executes; forkover start
  // runs a bare script with the absolute node itself.
  const program = spec.command[0]!;
  if (spec.start === undefined && program !== spec.node && findsNodeOnPath(program)) {
    io.err(
      `forkover init-script: warning: ${program} finds its node through PATH (#!/usr/bin/env node), which init systems set to a few system directories; give the node first: -- ${spec.node} ${program} …`,
    );
  }
  io.out(text);
  return EXIT.OK;
}

/** `forkover start`: 2 with a message naming the fix on bad arguments; never resolves once the app runs here. */
async function start(prog: Command, io: Io): Promise<number> {
  const cmd = prog.commands.find((c) => c.name() === 'start')!;
  const [command] = cmd.processedArgs as [string[]];
  try {
    assertSupportedPlatform(io.platform ?? process.platform);
    const { runStart } = await import('./start-command.js');
    const code = await runStart(cmd.opts(), command, io.cwd);
    if (code === undefined) return new Promise<number>(() => {});
    return code;
  } catch (err) {
    io.err(`forkover start: ${describe(err)}`);
    return isForkoverError(err, 'BAD_OPTION') ? EXIT.BAD_ARGS : isForkoverError(err, 'UNSUPPORTED_PLATFORM') ? EXIT.UNIMPLEMENTED : EXIT.FAILURE;
  }
}

/**
 * Run the CLI; resolves to the exit code. Never calls process.exit itself. When
 * `forkover start` runs the app in this process, it never resolves: the app's exit is
 * its own (bin/forkover.js awaits it without a top-level await for that reason).
 */
export async function main(argv: string[], io: Io = defaultIo): Promise<number> {
  const prog = program(io);
  let chosen: { name: string; opts: Record<string, unknown> } | undefined;
  for (const cmd of prog.commands) cmd.action((opts: Record<string, unknown>) => void (chosen = { name: cmd.name(), opts }));
  try {
    await prog.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT.OK;
      return EXIT.BAD_ARGS;
    }
    throw err;
  }
  if (!chosen) {
    io.err(prog.helpInformation());
    return EXIT.BAD_ARGS;
  }
  if (chosen.name === 'init-script') return initScript(prog, io);
  if (chosen.name === 'start') return start(prog, io);
  try {
    assertSupportedPlatform(io.platform ?? process.platform);
  } catch (err) {
    // LSB: "unimplemented feature" for actions, "unknown" for status (R6.1, R6.2).
    io.err(`forkover ${chosen.name}: ${isForkoverError(err) ? `${err.code}: ` : ''}${describe(err)}`);
    return chosen.name === 'status' ? STATUS_EXIT.UNKNOWN : EXIT.UNIMPLEMENTED;
  }
  const pidfile = path.resolve(io.cwd, String(chosen.opts.pidfile));
  try {
    switch (chosen.name) {
      case 'status':
        return status(pidfile, chosen.opts.json === true, io);
      case 'stop':
        return await stop(pidfile, chosen.opts.timeout as number, io);
      case 'reload':
        return await reload(pidfile, chosen.opts.timeout as number | null, io);
    }
  } catch (err) {
    io.err(`forkover ${chosen.name}: ${describe(err)}`);
    return chosen.name === 'status' ? STATUS_EXIT.UNKNOWN : EXIT.FAILURE;
  }
  return EXIT.BAD_ARGS;
}
