/**
 * A real systemd for tests: boot the host's own /usr in a container with
 *   systemd-nspawn -D / --volatile=yes --boot --register=no --keep-unit
 *                  --bind=<checkout>:/srv/forkover -- systemd.firstboot=off
 * and drive it with `nsenter -t <its systemd> -a systemctl …`. One container per test
 * file (beforeAll: bootContainer(); afterAll: container.shutdown()).
 *
 * The container shares the host's network (no --private-network), so the tests' load
 * client reaches services on 127.0.0.1 directly. Files inside it are read and written
 * through /proc/<its systemd>/root. Nothing below /tmp or /var/tmp is ever bound: the
 * container's tmpfiles would empty it, and a bound /tmp would be the host's.
 *
 * A container that cannot boot fails the test file loudly; it is never skipped.
 *
 * The container's /usr/bin/node is the Node that runs the tests (process.execPath, bound
 * over the host's when it is another binary): .ci/run's matrix runs the suite on Node 20,
 * 22 and 24, and the daemons inside a container must run on that line too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT, alive, childrenOf, procStat, run, start, track, waitUntil, type RunResult } from './util.js';

/** Where the checkout appears inside the container. */
export const SRV = '/srv/forkover';

export interface Container {
  /** PID (host namespace) of the container's systemd. */
  readonly init: number;
  /** Run a command inside the container (no shell). */
  exec(args: string[], timeoutMs?: number): Promise<RunResult>;
  /** `systemctl …` inside; throws with its output unless `allowFail`. */
  systemctl(args: string[], allowFail?: boolean): Promise<RunResult>;
  /** `systemctl show -p …` as an object. */
  show(unit: string, props?: string[]): Promise<Record<string, string>>;
  /** Host path of a path inside the container. */
  hostPath(p: string): string;
  writeFile(p: string, content: string, mode?: number): void;
  /** Install unit files in /run/systemd/system and daemon-reload. */
  installUnits(files: { filename: string; content: string }[]): Promise<void>;
  /** The unit's journal (for failure messages). */
  journal(unit: string, lines?: number): Promise<string>;
  /** Power off and wait; kill by PID if it will not go. */
  shutdown(): Promise<void>;
}

/**
 * The directory to bind at /srv/forkover: the checkout itself, or, when the checkout is
 * below /tmp or /var/tmp (never to be bound: the container's tmpfiles empties them, and a
 * bound /tmp is the host's), a snapshot copy of it under /var/lib/forkover-test, removed
 * by shutdown(). The container only reads code there, so a snapshot serves.
 */
function bindSource(dir: string): { source: string; remove: () => void } {
  const real = fs.realpathSync(dir);
  if (!['/tmp', '/var/tmp'].some((bad) => real === bad || real.startsWith(`${bad}/`))) return { source: real, remove: () => {} };
  const copy = `/var/lib/forkover-test/${process.pid}`;
  fs.rmSync(copy, { recursive: true, force: true });
  fs.mkdirSync(copy, { recursive: true, mode: 0o755 });
  // Not the Node binaries of .ci/run's matrix (scripts/node-line.sh): nodeBind() binds the one in use.
  fs.cpSync(real, copy, { recursive: true, filter: (src) => !src.startsWith(`${real}/.git`) && !src.startsWith(`${real}/node_modules/.cache`) });
  return { source: copy, remove: () => fs.rmSync(copy, { recursive: true, force: true }) };
}

/** Where the container's /usr/bin/node comes from: `--bind-ro` of the test's own Node, unless that is the host's /usr/bin/node. */
function nodeBind(): string[] {
  const same = (() => {
    try {
      return fs.realpathSync('/usr/bin/node') === fs.realpathSync(process.execPath);
    } catch {
      return false;
    }
  })();
  return same ? [] : [`--bind-ro=${fs.realpathSync(process.execPath)}:/usr/bin/node`];
}

/** Boot a container and wait until its systemd says running (or degraded). */
export async function bootContainer(timeoutMs = 60_000): Promise<Container> {
  for (const prog of ['/usr/bin/systemd-nspawn', '/usr/bin/nsenter', '/usr/lib/systemd/systemd']) {
    if (!fs.existsSync(prog)) throw new Error(`${prog} is missing: the systemd tests need it (scripts/test-deps.sh installs systemd-container)`);
  }
  const bound = bindSource(ROOT);
  let output = '';
  const nspawn: ChildProcess = spawn(
    '/usr/bin/systemd-nspawn',
    ['-D', '/', '--volatile=yes', '--boot', '--register=no', '--keep-unit', `--bind=${bound.source}:${SRV}`, ...nodeBind(), '--', 'systemd.firstboot=off'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  nspawn.stdout!.setEncoding('utf8').on('data', (c: string) => (output = (output + c).slice(-4000)));
  nspawn.stderr!.setEncoding('utf8').on('data', (c: string) => (output = (output + c).slice(-4000)));
  const exited = new Promise<void>((resolve) => nspawn.once('exit', () => resolve()));
  let init = 0;
  const kill = async () => {
    for (const pid of [init, nspawn.pid ?? 0]) {
      if (pid > 1 && alive(pid)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
    await Promise.race([exited, waitUntil(() => nspawn.exitCode !== null || nspawn.signalCode !== null, 10_000).catch(() => {})]);
  };
  const exec = (args: string[], t = 30_000) => run('/usr/bin/nsenter', ['-t', String(init), '-a', ...args], { timeoutMs: t });
  try {
    init = await waitUntil(
      () => {
        if (nspawn.exitCode !== null) throw new Error(`systemd-nspawn exited with ${nspawn.exitCode}: ${output}`);
        // nspawn's child that runs systemd (an intermediate child may come and go first).
        return childrenOf(nspawn.pid!).find((pid) => procStat(pid)?.comm === 'systemd');
      },
      timeoutMs,
      'the container\'s systemd to start',
      50,
    );
    let state: string | undefined;
    await pollUntil(
      async () => {
        const r = await exec(['systemctl', 'is-system-running'], 10_000).catch((e: Error) => ({ stdout: '', stderr: e.message }) as RunResult);
        state = `${r.stdout.trim()} ${r.stderr.trim()}`.trim();
        return r.stdout.trim() === 'running' || r.stdout.trim() === 'degraded';
      },
      timeoutMs,
      () => `the container to finish booting (state ${state}): ${output.slice(-1500)}`,
    );
    const version = (await exec(['/usr/bin/node', '--version'])).stdout.trim();
    if (version !== process.version) throw new Error(`the container's /usr/bin/node is ${version || 'missing'}, not the tests' Node ${process.version}`);
  } catch (err) {
    await kill();
    bound.remove();
    throw err;
  }

  const c: Container = {
    init,
    exec,
    async systemctl(args, allowFail = false) {
      const r = await exec(['systemctl', '--no-pager', ...args], 90_000);
      if (!allowFail && r.code !== 0) {
        throw new Error(`systemctl ${args.join(' ')} exited ${r.code}: ${r.stdout}${r.stderr}\n${args[1] ? await c.journal(args[1]) : ''}`);
      }
      return r;
    },
    async show(unit, props = ['MainPID', 'ActiveState', 'SubState', 'NRestarts', 'Result']) {
      const r = await exec(['systemctl', 'show', unit, ...props.map((p) => `-p${p}`)]);
      const out: Record<string, string> = {};
      for (const line of r.stdout.split('\n')) {
        const i = line.indexOf('=');
        if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
      }
      return out;
    },
    hostPath: (p) => path.join(`/proc/${init}/root`, p),
    writeFile(p, content, mode = 0o644) {
      const hp = c.hostPath(p);
      fs.mkdirSync(path.dirname(hp), { recursive: true });
      fs.writeFileSync(hp, content, { mode });
      fs.chmodSync(hp, mode);
    },
    async installUnits(files) {
      for (const f of files) c.writeFile(`/run/systemd/system/${path.basename(f.filename)}`, f.content);
      await c.systemctl(['daemon-reload']);
    },
    async journal(unit, lines = 40) {
      const r = await exec(['journalctl', '--no-pager', '-o', 'short-monotonic', '-n', String(lines), '-u', unit]).catch((e: Error) => ({ stdout: e.message }) as RunResult);
      return r.stdout;
    },
    async shutdown() {
      if (nspawn.exitCode === null && nspawn.signalCode === null) {
        await exec(['systemctl', 'poweroff', '--no-block'], 10_000).catch(() => undefined);
        const done = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 20_000).unref())]);
        if (!done) await kill();
      }
      bound.remove();
    },
  };
  return c;
}

/** A TCP port free on 127.0.0.1 right now (the container shares the host's loopback). */
export { freePort } from './util.js';

/** Read a pidfile inside the container: its PID, or undefined if absent. */
export function containerPid(c: Container, pidfile: string): number | undefined {
  try {
    const n = Number(fs.readFileSync(c.hostPath(pidfile), 'utf8').split('\n')[0]);
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** waitUntil with systemctl's pace: a check that asks a program polls every 100 ms. */
export function pollUntil<T>(check: () => Promise<T | undefined | false | null>, timeoutMs: number, what: () => string, intervalMs = 100): Promise<T> {
  return waitUntil(check, timeoutMs, what, intervalMs);
}

/**
 * Run the real `forkover init-script <args>` inside the container (so the paths it writes
 * are the container's: /usr/bin/node, /srv/forkover/bin/forkover.js) and return the files
 * it prints: one as is, several each after its "# ==> name <==" header.
 */
export async function initScriptInContainer(c: Container, args: string[], single: string): Promise<{ filename: string; content: string }[]> {
  const r = await c.exec(['/usr/bin/node', `${SRV}/bin/forkover.js`, 'init-script', ...args]);
  if (r.code !== 0) throw new Error(`forkover init-script ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  const parts = r.stdout.split(/^# ==> (\S+) <==\n/m);
  if (parts.length === 1) return [{ filename: single, content: r.stdout }];
  const files: { filename: string; content: string }[] = [];
  for (let i = 1; i < parts.length; i += 2) files.push({ filename: parts[i]!, content: parts[i + 1]! });
  return files;
}

/**
 * Wait until `service` is active/running with a MainPID (other than `not`) that the
 * pidfile names too; resolves to that PID.
 */
export function unitSettled(c: Container, service: string, pidfile: string, not?: number, timeoutMs = 20_000): Promise<number> {
  let last: Record<string, string> = {};
  return pollUntil(
    async () => {
      last = await c.show(service);
      const pid = Number(last.MainPID);
      if (last.ActiveState !== 'active' || last.SubState !== 'running' || pid <= 0 || pid === not) return undefined;
      return containerPid(c, pidfile) === pid ? pid : undefined;
    },
    timeoutMs,
    () => `${service} to be active with a MainPID${not ? ` other than ${not}` : ''} named in ${pidfile} (now ${JSON.stringify(last)}, pidfile ${containerPid(c, pidfile)})`,
  );
}

/** A container whose PID 1 is the command itself (nspawn without --boot): runAsPid1(). */
export interface Pid1Container {
  /** Host PID of the container's PID 1. */
  readonly pid1: number;
  /** systemd-nspawn's exit: the container payload's (PID 1's) exit status. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** nspawn's output so far: the container's stdout and stderr (--console=pipe). */
  output(): string;
  /** Host path of a path inside the container. */
  hostPath(p: string): string;
}

/** The PID inside its innermost PID namespace (the last NSpid field), or undefined. */
function nsPid(pid: number): number | undefined {
  try {
    const m = /^NSpid:\s+(.*)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]!.trim().split(/\s+/).pop()) : undefined;
  } catch {
    return undefined;
  }
}

/** Every descendant of `pid` (host view). */
function descendantsOf(pid: number): number[] {
  const out: number[] = [];
  for (let queue = [pid]; queue.length > 0; ) {
    const kids = childrenOf(queue.shift()!);
    out.push(...kids);
    queue.push(...kids);
  }
  return out;
}

/**
 * Run `command` as PID 1 of a fresh container:
 *   systemd-nspawn -D / --volatile=yes --register=no --keep-unit --console=pipe --quiet
 *                  --bind=<checkout>:/srv/forkover -- <command>
 * Without --boot or --as-pid2 nspawn runs the command itself as the container's PID 1,
 * the way `docker run` runs an image's CMD (and unlike --as-pid2, whose stub init would
 * reap for it). Resolves once that PID 1 runs the command (its exe is not nspawn's).
 * nspawn and the PID 1 are both killed by cleanup() (util.ts); killing the PID 1 ends
 * every process of the container.
 */
export async function runAsPid1(command: string[], timeoutMs = 30_000): Promise<Pid1Container> {
  for (const prog of ['/usr/bin/systemd-nspawn']) {
    if (!fs.existsSync(prog)) throw new Error(`${prog} is missing: the container tests need it (scripts/test-deps.sh installs systemd-container)`);
  }
  const bound = bindSource(ROOT);
  const nspawn = start('/usr/bin/systemd-nspawn', [
    '-D', '/', '--volatile=yes', '--register=no', '--keep-unit', '--console=pipe', '--quiet',
    `--bind=${bound.source}:${SRV}`, ...nodeBind(), '--', ...command,
  ]);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    nspawn.once('exit', (code, signal) => {
      bound.remove();
      resolve({ code, signal });
    }),
  );
  const pid1 = await waitUntil(
    () => {
      if (nspawn.exitCode !== null || nspawn.signalCode !== null) throw new Error(`systemd-nspawn exited with ${nspawn.exitCode ?? nspawn.signalCode}: ${nspawn.output()}`);
      const pid = descendantsOf(nspawn.pid!).find((p) => nsPid(p) === 1);
      if (pid === undefined) return undefined;
      track(pid);
      try {
        return fs.readlinkSync(`/proc/${pid}/exe`) === fs.realpathSync(command[0]!) ? pid : undefined;
      } catch {
        return undefined;
      }
    },
    timeoutMs,
    () => `the container's PID 1 to run ${command[0]} (output: ${nspawn.output().slice(-1500)})`,
    20,
  );
  return { pid1, exited, output: () => nspawn.output(), hostPath: (p) => path.join(`/proc/${pid1}/root`, p) };
}
