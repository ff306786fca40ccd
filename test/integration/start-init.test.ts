// Issue 14: `forkover init-script <kind> --start` for an app that imports nothing of
// forkover (test/fixtures/start/init-http.cjs calls its own listen()), run by the real init
// systems: systemd Type=forking and Type=notify in a container (test/helpers/systemd.ts),
// Debian's start-stop-daemon (LSB script) and openrc-run on this machine.
// Contracts: R3.1-R3.7 (forking), R4.1-R4.5 (notify, MAINPID= on a handoff), R6.1-R6.5
// (LSB codes, --oknodo, pidfile + --name), R7.1-R7.4 (OpenRC), R9.7 (the title is comm).
//
// Every app command carries words that are also forkover flags (--name, -p): they are
// the app's, so init-script must not refuse them and forkover start must pass them on.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { jest } from '@jest/globals';
import { CLI, alive, cleanup, cli, fixture, get, load, procStat, processesTitled, readPid, run, tmpdir, track, waitUntil, type RunResult } from '../helpers/util.js';
import { forgetService, openrc, useOpenrc } from '../helpers/openrc.js';
import { type Container, SRV, bootContainer, freePort, initScriptInContainer, unitSettled } from '../helpers/systemd.js';

jest.setTimeout(120_000);
afterEach(cleanup);

/** Words for the app that are forkover flags too: they must reach the app untouched. */
const APP_OWN = ['--name', 'app-own-name', '-p', 'app-own-p'];

/** The words after the script that the app answering on `port` got (init-http.cjs /argv). */
async function appArgv(port: number): Promise<string[]> {
  return JSON.parse((await get(port, '/argv')).body) as string[];
}

/** The PID in an init-http.cjs answer ("hello from PID"). */
function pidOf(body: string): number {
  const m = /^hello from (\d+)\n$/.exec(body);
  if (!m) throw new Error(`not an answer of init-http.cjs: ${JSON.stringify(body)}`);
  return Number(m[1]);
}

/**
 * Reload (`act`) under a bounded load with a new connection per request; resolves once
 * requests were answered after the reload too. No request may fail (R3.4).
 */
async function underLoad<T>(port: number, act: () => Promise<T>) {
  const l = load(port, { concurrency: 4, keepAlive: false, maxMs: 60_000, maxRequests: 50_000 });
  await waitUntil(() => l.stats.ok >= 50, 15_000, () => `the load to get going (${JSON.stringify(l.stats.byKind)})`);
  const result = await act();
  const okAtReload = l.stats.ok;
  await waitUntil(() => l.stats.ok >= okAtReload + 50, 15_000, 'requests answered after the reload');
  return { result, stats: await l.stop() };
}

describe('systemd, in a container', () => {
  let c: Container;
  beforeAll(async () => {
    c = await bootContainer();
  }, 90_000);
  afterAll(async () => {
    await c?.shutdown();
  });

  const APP = `${SRV}/test/fixtures/start/init-http.cjs`;

  interface Unit {
    name: string;
    service: string;
    port: number;
    pidfile: string;
    content: string;
  }

  /** What `forkover init-script <kind> --start` prints for init-http.cjs, installed. */
  async function install(kind: 'systemd' | 'systemd-notify', name: string): Promise<Unit> {
    const port = await freePort();
    const pidfile = `/run/${name}/${name}.pid`;
    const service = `${name}.service`;
    const [unit] = await initScriptInContainer(c, [kind, '--start', '--name', name, '--', '/usr/bin/node', APP, '--port', String(port), ...APP_OWN], service);
    await c.installUnits([unit!]);
    return { name, service, port, pidfile, content: unit!.content };
  }

  /** The generation is titled --name (R9.7) and got the app's own words. */
  async function checkProcess(u: Unit, pid: number): Promise<void> {
    expect(fs.readFileSync(c.hostPath(`/proc/${pid}/comm`), 'utf8').trim()).toBe(u.name);
    expect(await appArgv(u.port)).toEqual(['--port', String(u.port), ...APP_OWN]);
  }

  /** start, reload under load, stop: the three steps every --start unit must pass. */
  function lifecycle(label: string, kind: 'systemd' | 'systemd-notify', name: string, expectType: string) {
    describe(label, () => {
      let u: Unit;
      let first: number;
      let second: number;

      test('start: active, MainPID is the pidfile PID, titled --name, and it serves', async () => {
        u = await install(kind, name);
        expect(u.content).toMatch(new RegExp(`^Type=${expectType}$`, 'm'));
        // The start form, absolute paths only (no PATH lookup by systemd or forkover).
        // No --logfile: Type=forking appends to the default log, Type=notify keeps the journal (issue 16.2).
        const flags = kind === 'systemd' ? `--daemon -p ${u.pidfile} --name ${name} -l /var/log/${name}/${name}\\.log` : `-p ${u.pidfile} --name ${name}`;
        expect(u.content).toMatch(new RegExp(`^ExecStart=/usr/bin/node ${SRV}/bin/forkover\\.js start ${flags} -- /usr/bin/node ${APP} --port ${u.port} --name app-own-name -p app-own-p$`, 'm'));
        expect(u.content).toContain(`\nExecReload=/usr/bin/node ${SRV}/bin/forkover.js reload -p ${u.pidfile}\n`);
        await c.systemctl(['start', u.service]);
        first = await unitSettled(c, u.service, u.pidfile);
        expect(pidOf((await get(u.port)).body)).toBe(first);
        await checkProcess(u, first);
      });

      test('reload under load: no request fails, MainPID follows the new generation (R3.3-R3.5, R4.5)', async () => {
        const { result: r, stats } = await underLoad(u.port, () => c.systemctl(['reload', u.service], true));
        expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
        second = await unitSettled(c, u.service, u.pidfile, first);
        expect(stats.failed).toBe(0);
        expect(stats.errors).toEqual([]);
        expect(stats.pids).toEqual(new Set([String(first), String(second)]));
        expect(pidOf((await get(u.port)).body)).toBe(second);
        await checkProcess(u, second);
        console.log(`${label}: reload ${first} -> ${second}; ${stats.ok} requests, ${stats.failed} failed`);
      });

      test('stop: inactive, pidfile gone, nothing of it runs, nothing answers (R3.6)', async () => {
        await c.systemctl(['stop', u.service]);
        const s = await c.show(u.service, ['ActiveState', 'MainPID', 'Result']);
        expect(s).toEqual({ ActiveState: 'inactive', MainPID: '0', Result: 'success' });
        expect(fs.existsSync(c.hostPath(u.pidfile))).toBe(false);
        for (const pid of [first, second]) expect(fs.existsSync(c.hostPath(`/proc/${pid}`))).toBe(false);
        expect(processesTitled(u.name)).toEqual([]); // every generation, seen from the host
        await expect(get(u.port, '/', false, 2_000)).rejects.toThrow();
      });
    });
  }

  lifecycle('Type=forking unit from init-script systemd --start', 'systemd', 'fostartfork', 'forking');
  lifecycle('Type=notify unit from init-script systemd-notify --start (foreground, in-process)', 'systemd-notify', 'fostartnotify', 'notify');
});

/** Generate with the real CLI on this machine (the paths are this checkout's). */
async function generate(kind: 'sysv' | 'openrc', name: string, dir: string, port: number): Promise<{ script: string; pidfile: string; logfile: string; text: string }> {
  const pidfile = path.join(dir, 'run', `${name}.pid`);
  const logfile = path.join(dir, 'log', `${name}.log`);
  const r = await cli(['init-script', kind, '--start', '--name', name, '--pidfile', pidfile, '--logfile', logfile, '--', process.execPath, fixture('start/init-http.cjs'), '--port', String(port), ...APP_OWN]);
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  const script = path.join(dir, name);
  fs.writeFileSync(script, r.stdout, { mode: 0o755 });
  return { script, pidfile, logfile, text: r.stdout };
}

/** The generation the pidfile names is titled --name (what start-stop-daemon matches, R6.4) and got the app's own words. */
async function checkHostProcess(pid: number, name: string, port: number): Promise<void> {
  expect(procStat(pid)?.comm).toBe(name);
  expect(await appArgv(port)).toEqual(['--port', String(port), ...APP_OWN]);
}

describe('LSB script (sysv) from init-script sysv --start, with start-stop-daemon', () => {
  const SSD = '/usr/sbin/start-stop-daemon';
  const NAME = 'fo-start-sysv';
  const sh = (script: string, action: string): Promise<RunResult> =>
    // A minimal environment, like init's: the script sets its own PATH.
    run('/bin/sh', [script, action], { cwd: '/', env: { LANG: 'C' }, timeoutMs: 60_000 });

  test('start, start again (oknodo), status 0, reload under load, stop, status 3 (R6.1-R6.5)', async () => {
    if (!fs.existsSync(SSD)) throw new Error(`${SSD} is missing: run "bash scripts/test-deps.sh" (Debian's dpkg provides it)`);
    const dir = tmpdir();
    const port = await freePort();
    const { script, pidfile, text } = await generate('sysv', NAME, dir, port);
    expect(text).toContain(`--startas "$DAEMON" -- \\\n\t\t${CLI} start \\\n\t\t--daemon -p "$PIDFILE" --name "$NAME" \\\n`);
    expect(text).toContain(`DAEMON=${process.execPath}\n`);
    expect(text).not.toMatch(/^[^#]*--exec/m);

    const st = await sh(script, 'start');
    const pid = readPid(pidfile);
    track(pid);
    expect({ code: st.code, stderr: st.stderr }).toEqual({ code: 0, stderr: '' });
    expect(pid).toBeDefined();
    await checkHostProcess(pid!, NAME, port);
    expect(pidOf((await get(port)).body)).toBe(pid);

    const again = await sh(script, 'start'); // matched by pidfile + --name: already running (R6.1)
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/already running/);
    expect(readPid(pidfile)).toBe(pid);

    const s1 = await sh(script, 'status');
    expect(s1.code).toBe(0); // R6.2 running
    expect(s1.stdout).toContain(`running as PID ${pid}`);

    const { result: rl, stats } = await underLoad(port, () => sh(script, 'reload'));
    expect({ code: rl.code, stderr: rl.stderr }).toEqual({ code: 0, stderr: '' });
    const pid2 = readPid(pidfile)!;
    track(pid2);
    expect(pid2).not.toBe(pid);
    expect(rl.stdout).toContain(`reloaded: PID ${pid} -> ${pid2}`);
    expect(stats.failed).toBe(0);
    expect(stats.pids).toEqual(new Set([String(pid), String(pid2)]));
    await checkHostProcess(pid2, NAME, port);
    console.log(`sysv --start: reload ${pid} -> ${pid2}; ${stats.ok} requests, ${stats.failed} failed`);

    const sp = await sh(script, 'stop');
    expect(sp.code).toBe(0);
    await waitUntil(() => !alive(pid!) && !alive(pid2), 10_000, `PIDs ${pid} and ${pid2} to be gone`);
    expect(fs.existsSync(pidfile)).toBe(false); // removed by the daemon on its final exit (R2.7)
    expect(processesTitled(NAME)).toEqual([]);
    const s3 = await sh(script, 'status');
    expect(s3.code).toBe(3); // R6.2 not running
    await expect(get(port, '/', false, 2_000)).rejects.toThrow();
  });
});

describe('forkover start flags through init-script --start', () => {
  test('sysv with "-- --workers 2 --": both workers titled --name serve, status lists them, stop ends both', async () => {
    const NAME = 'fo-start-wk';
    const dir = tmpdir();
    const port = await freePort();
    const pidfile = path.join(dir, 'run', `${NAME}.pid`);
    const r = await cli(['init-script', 'sysv', '--start', '--name', NAME, '--pidfile', pidfile, '--logfile', path.join(dir, 'log', `${NAME}.log`), '--', '--workers', '2', '--', process.execPath, fixture('start/init-http.cjs'), '--port', String(port)]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    const script = path.join(dir, NAME);
    fs.writeFileSync(script, r.stdout, { mode: 0o755 });
    const sh = (action: string) => run('/bin/sh', [script, action], { cwd: '/', env: { LANG: 'C' }, timeoutMs: 60_000 });

    const st = await sh('start');
    const leader = readPid(pidfile);
    track(leader);
    expect({ code: st.code, stderr: st.stderr }).toEqual({ code: 0, stderr: '' });
    const status = await sh('status');
    expect(status.code).toBe(0);
    const workers = /workers: PID (\d+), (\d+)/.exec(status.stdout)?.slice(1).map(Number);
    expect(workers?.[0]).toBe(leader);
    for (const pid of workers ?? []) {
      track(pid);
      expect(procStat(pid)?.comm).toBe(NAME);
    }
    // Both accept on the same socket: new connections reach each of them.
    const seen = new Set<number>();
    await waitUntil(async () => (seen.add(pidOf((await get(port)).body)), seen.size === 2), 15_000, () => `both workers ${workers?.join(', ')} to answer (seen ${[...seen].join(', ')})`);
    expect([...seen].sort()).toEqual([...workers!].sort());

    expect((await sh('stop')).code).toBe(0);
    await waitUntil(() => workers!.every((pid) => !alive(pid)), 10_000, `workers ${workers?.join(', ')} to be gone`);
    expect(processesTitled(NAME)).toEqual([]);
    expect(fs.existsSync(pidfile)).toBe(false);
  });
});

describe('OpenRC script from init-script openrc --start, with openrc-run', () => {
  // The service name is the script's name, and OpenRC's state is machine-wide: unique.
  const NAME = `fo-sorc-${process.pid % 100000}`;
  let script: string | undefined;
  useOpenrc();
  afterEach(async () => {
    if (script !== undefined) await forgetService(script);
    script = undefined;
  });

  const strip = (r: RunResult) => `${r.stdout}${r.stderr}`.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');

  test('start, status, reload under load, status, stop, status (R7.1-R7.4)', async () => {
    const dir = tmpdir();
    const port = await freePort();
    const g = await generate('openrc', NAME, dir, port);
    script = g.script;
    const { pidfile, text } = g;
    expect(text).toContain(`command=${process.execPath}\n`);
    expect(text).toContain(`\ncommand_args="${CLI} start --daemon -p \${pidfile} --name \${procname} -l \${logfile} -- ${process.execPath} ${fixture('start/init-http.cjs')} --port ${port} --name app-own-name -p app-own-p"\n`);
    expect(text).not.toMatch(/^\s*command_background=/m); // R7.1

    const st = await openrc(script, 'start');
    const pid = readPid(pidfile);
    track(pid);
    expect({ code: st.code, out: strip(st) }).toEqual({ code: 0, out: expect.stringMatching(/Starting fo-sorc-\d+ \.\.\./) });
    expect(pid).toBeDefined();
    await checkHostProcess(pid!, NAME, port);
    expect(pidOf((await get(port)).body)).toBe(pid);

    const s1 = await openrc(script, 'status');
    expect(s1.code).toBe(0);
    expect(strip(s1)).toMatch(/status: started/);
    expect(strip(s1)).toContain(`running as PID ${pid}`);

    const { result: rl, stats } = await underLoad(port, () => openrc(script!, 'reload'));
    expect({ code: rl.code, out: strip(rl) }).toEqual({ code: 0, out: expect.stringMatching(/Reloading .*reloaded: PID \d+ -> \d+/s) });
    const pid2 = readPid(pidfile)!;
    track(pid2);
    expect(pid2).not.toBe(pid);
    expect(stats.failed).toBe(0);
    expect(stats.pids).toEqual(new Set([String(pid), String(pid2)]));
    await checkHostProcess(pid2, NAME, port);
    console.log(`openrc --start: reload ${pid} -> ${pid2}; ${stats.ok} requests, ${stats.failed} failed`);

    const s2 = await openrc(script, 'status');
    expect(s2.code).toBe(0);
    expect(strip(s2)).toContain(`running as PID ${pid2}`);

    const sp = await openrc(script, 'stop'); // pidfile + --name (procname), never --exec node (R6.4)
    expect({ code: sp.code, out: strip(sp) }).toEqual({ code: 0, out: expect.stringMatching(/Stopping/) });
    await waitUntil(() => !alive(pid!) && !alive(pid2), 10_000, `PIDs ${pid} and ${pid2} to be gone`);
    expect(fs.existsSync(pidfile)).toBe(false);
    expect(processesTitled(NAME)).toEqual([]);
    const s3 = await openrc(script, 'status');
    expect(s3.code).toBe(3);
    expect(strip(s3)).toMatch(/status: stopped/);
  });
});
