// Issue 4 (systemd half): the three generated units, run by a real systemd booted in a
// container (test/helpers/systemd.ts). Contracts §3 (Type=forking), §4 (notify,
// watchdog), §5 (socket activation). One container for the whole file.
import * as fs from 'node:fs';
import { renderSystemd, renderSystemdNotify, renderSystemdSocket } from '../../src/init-scripts/systemd.js';
import type { InitScriptSpec, RenderedFile } from '../../src/init-scripts/types.js';
import { cleanup, get, getStarted, load } from '../helpers/util.js';
import { type Container, SRV, bootContainer, containerPid, freePort, pollUntil, unitSettled } from '../helpers/systemd.js';

import { jest } from '@jest/globals';

jest.setTimeout(120_000);

let c: Container;
beforeAll(async () => {
  c = await bootContainer();
}, 90_000);
afterAll(async () => {
  await c?.shutdown();
});
afterEach(cleanup);

const APP = `${SRV}/test/fixtures/systemd-app.mjs`;

interface Unit {
  name: string;
  service: string;
  port: number;
  pidfile: string;
  modeFile: string;
  /** The uid every generation must run as (User=). */
  uid?: number;
  /** The sd_notify transport the service must report using (notify units). */
  transport?: 'native' | 'systemd-notify';
  /** Started with --standby: a reload must use the waiting process. */
  standby?: boolean;
}

/**
 * The real `forkover init-script` CLI, run inside the container (so the forkover path it
 * writes into ExecReload= is the container's), as a renderer: the files it prints are
 * the files these tests install.
 */
function viaCli(kind: InitScriptSpec['kind']) {
  return async (spec: InitScriptSpec): Promise<RenderedFile[]> => {
    const args = ['init-script', kind, '--name', spec.name, '--pidfile', spec.pidfile];
    if (spec.user) args.push('--user', spec.user);
    if (spec.logfile) args.push('--logfile', spec.logfile);
    if (spec.listen) args.push('--listen', spec.listen);
    const r = await c.exec(['/usr/bin/node', spec.forkoverBin, ...args, '--', ...spec.command]);
    if (r.code !== 0) throw new Error(`forkover ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    const parts = r.stdout.split(/^# ==> (\S+) <==\n/m);
    if (parts.length === 1) return [{ filename: `${spec.name}.service`, content: r.stdout }];
    const files: RenderedFile[] = [];
    for (let i = 1; i < parts.length; i += 2) files.push({ filename: parts[i]!, content: parts[i + 1]! });
    return files;
  };
}

async function makeUnit(
  name: string,
  render: (spec: InitScriptSpec) => RenderedFile[] | Promise<RenderedFile[]>,
  extra: Partial<InitScriptSpec> = {},
  dropIn?: string,
  appArgs: string[] = [],
): Promise<Unit> {
  const port = await freePort();
  const modeFile = `/run/fotest/${name}.mode`;
  c.writeFile(modeFile, 'ok\n');
  const spec: InitScriptSpec = {
    kind: 'systemd',
    name,
    pidfile: `/run/${name}/${name}.pid`,
    command: ['/usr/bin/node', APP, '--port', String(port), '--host', '127.0.0.1', '--mode-file', modeFile, ...appArgs],
    forkoverBin: `${SRV}/bin/forkover.js`,
    node: '/usr/bin/node',
    ...extra,
  };
  const files = await render(spec);
  const service = files.find((f) => f.filename === `${name}.service`);
  expect(service?.content).toContain(`ExecReload=/usr/bin/node ${SRV}/bin/forkover.js reload -p ${spec.pidfile}`);
  if (dropIn) files.push({ filename: `${name}.service.d/test.conf`, content: dropIn });
  for (const f of files) c.writeFile(`/run/systemd/system/${f.filename}`, f.content);
  await c.systemctl(['daemon-reload']);
  return { name, service: `${name}.service`, port, pidfile: spec.pidfile, modeFile };
}

async function mainPid(u: Unit): Promise<number> {
  return Number((await c.show(u.service, ['MainPID'])).MainPID);
}

/** Wait for the unit to be active with a MainPID that is named in the pidfile and serves. */
async function settled(u: Unit, not?: number): Promise<number> {
  let seen = '';
  try {
    return await pollUntil(
      async () => {
        const s = await c.show(u.service);
        const pid = Number(s.MainPID);
        const named = containerPid(c, u.pidfile);
        seen = `${s.ActiveState}/${s.SubState}, MainPID ${s.MainPID}, NRestarts ${s.NRestarts}, pidfile names ${named ?? 'nothing'}`;
        if (s.ActiveState !== 'active' || s.SubState !== 'running' || pid <= 0 || pid === not || named !== pid) return undefined;
        return pid;
      },
      20_000,
      () => `${u.service} to be active with a new MainPID named in ${u.pidfile} (last seen: ${seen})`,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${await c.journal(u.service, 40)}`);
  }
}

async function servedBy(u: Unit): Promise<number> {
  const r = await get(u.port);
  expect(r.status).toBe(200);
  const pid = Number(/hello from (\d+)/.exec(r.body)?.[1]);
  if (u.uid !== undefined) expect(fs.readFileSync(c.hostPath(`/proc/${pid}/status`), 'utf8')).toMatch(new RegExp(`^Uid:\\s+${u.uid}\\s`, 'm'));
  return pid;
}

/** Reload under a bounded loopback load; returns the load stats and both PIDs. */
async function reloadUnderLoad(u: Unit) {
  const before = await mainPid(u);
  const l = load(u.port, { concurrency: 4, maxMs: 30_000, maxRequests: 20_000 });
  await pollUntil(async () => l.stats.ok >= 50, 10_000, () => 'the load to get going');
  const t0 = Date.now();
  const r = await c.systemctl(['reload', u.service], true);
  const reloadMs = Date.now() - t0;
  const okAtReload = l.stats.ok;
  await pollUntil(async () => l.stats.ok >= okAtReload + 50, 10_000, () => 'requests after the reload');
  const stats = await l.stop();
  const after = await settled(u, before);
  return { r, reloadMs, stats, before, after };
}

/** The acceptance items every unit shares: start, reload under load, broken reload, kill -9, stop. */
function lifecycle(label: string, setup: () => Promise<Unit>, start: (u: Unit) => Promise<void> = (u) => c.systemctl(['start', u.service]).then(() => {}), socketUnit = false) {
  describe(label, () => {
    let u: Unit;
    test('start: active, MainPID is the pidfile PID and serves', async () => {
      u = await setup();
      await start(u);
      const pid = await settled(u);
      expect(containerPid(c, u.pidfile)).toBe(pid);
      expect(await servedBy(u)).toBe(pid);
      if (u.transport) expect(await c.journal(u.service)).toContain(`via ${u.transport}`);
    });

    test('reload under load: MainPID moves, unit stays active, no request fails', async () => {
      const { r, reloadMs, stats, before, after } = await reloadUnderLoad(u);
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
      expect(after).not.toBe(before);
      expect(stats.failed).toBe(0);
      expect(stats.errors).toEqual([]);
      expect(stats.pids).toEqual(new Set([String(before), String(after)]));
      expect((await c.show(u.service)).ActiveState).toBe('active');
      expect(await servedBy(u)).toBe(after);
      if (u.standby) await pollUntil(async () => (await c.journal(u.service, 60)).includes(`used standby PID ${after}`), 10_000, () => `"used standby PID ${after}" in the journal`);
      console.log(`${label}: reload ${before} -> ${after} in ${reloadMs} ms; ${stats.ok} requests, ${stats.failed} failed`);
    });

    test('reload onto a broken version: systemctl reload fails, old MainPID keeps serving', async () => {
      const before = await mainPid(u);
      c.writeFile(u.modeFile, 'throw\n');
      const r = await c.systemctl(['reload', u.service], true);
      c.writeFile(u.modeFile, 'ok\n');
      expect(r.code).not.toBe(0);
      const s = await c.show(u.service);
      expect(s.ActiveState).toBe('active');
      expect(Number(s.MainPID)).toBe(before);
      expect(containerPid(c, u.pidfile)).toBe(before);
      expect(await servedBy(u)).toBe(before);
    });

    test('kill -9 of MainPID: Restart=on-failure restarts it', async () => {
      const before = await mainPid(u);
      const restarts = Number((await c.show(u.service)).NRestarts);
      const t0 = Date.now();
      const k = await c.exec(['kill', '-9', String(before)]);
      expect(k.code).toBe(0);
      const after = await settled(u, before);
      expect(Number((await c.show(u.service)).NRestarts)).toBe(restarts + 1);
      expect(await servedBy(u)).toBe(after);
      console.log(`${label}: restarted after kill -9 in ${Date.now() - t0} ms`);
    });

    test('stop: inactive, pidfile gone', async () => {
      await c.systemctl(['stop', u.service]);
      const s = await c.show(u.service);
      expect(s.ActiveState).toBe('inactive');
      expect(fs.existsSync(c.hostPath(u.pidfile))).toBe(false);
      if (socketUnit) {
        // The socket stays (a connection now would start the service again); stop it too.
        await c.systemctl(['stop', `${u.name}.socket`]);
      }
      await expect(get(u.port, '/', false, 2_000)).rejects.toThrow(); // nothing serves any more
    });
  });
}

// The four lifecycles install what `forkover init-script` prints; the other tests call
// the renderers it prints through (src/init-scripts/systemd.ts) to vary what it cannot.
lifecycle('Type=forking unit (R3.1-R3.7)', () => makeUnit('fofork', viaCli('systemd'), { logfile: '/run/fofork/fofork.log' }));

lifecycle('Type=notify unit, root, default NotifyAccess=main (R4.1-R4.5)', async () => ({
  ...(await makeUnit('fonotify', viaCli('systemd-notify'), { kind: 'systemd-notify' })),
  transport: 'native' as const,
}));

// Under User= the native transport is what makes NotifyAccess=main work: the datagram
// carries the sending process's own PID. (systemd-notify would speak with its own PID
// there and be refused: README, "systemd notify transport".)
lifecycle('Type=notify unit under User=nobody, NotifyAccess=main (R4.5, R10.4)', async () => {
  const u = await makeUnit('fonobody', viaCli('systemd-notify'), { kind: 'systemd-notify', user: 'nobody' });
  expect(fs.readFileSync(c.hostPath(`/run/systemd/system/${u.service}`), 'utf8')).toMatch(/^NotifyAccess=main$/m);
  return { ...u, uid: 65534, transport: 'native' as const };
});

// --standby under the strictest setting: the successor's Node was started by the
// unprivileged generation before the reload, and its notifications must still count.
lifecycle('Type=notify unit under User=nobody with --standby (R4.5)', async () => {
  const u = await makeUnit('fostandby', viaCli('systemd-notify'), { kind: 'systemd-notify', user: 'nobody' }, undefined, ['--standby']);
  return { ...u, uid: 65534, transport: 'native' as const, standby: true };
});

// The fallback transport (exec systemd-notify, no shell) as root: systemd-notify speaks
// for its parent, so the handoff still moves MainPID under NotifyAccess=main (R4.7 b).
lifecycle('Type=notify unit, root, systemd-notify fallback transport (R4.7)', async () => ({
  ...(await makeUnit('fonotify2', renderSystemdNotify, { kind: 'systemd-notify' }, '[Service]\nEnvironment=FORKOVER_NOTIFY_TRANSPORT=systemd-notify\n')),
  transport: 'systemd-notify' as const,
}));

describe('watchdog (R4.6)', () => {
  const WATCHDOG_SEC = 3;
  let u: Unit;
  test('a new generation takes over the pings: no restart across a handoff', async () => {
    u = await makeUnit('fowatch', (s) => renderSystemdNotify(s, { watchdogSec: WATCHDOG_SEC }), { kind: 'systemd-notify' });
    await c.systemctl(['start', u.service]);
    const first = await settled(u);
    await c.systemctl(['reload', u.service]);
    const second = await settled(u, first);
    // Proving an absence takes time: 2.5 watchdog periods with only the new generation pinging.
    const until = Date.now() + WATCHDOG_SEC * 2500;
    await pollUntil(async () => Date.now() > until, WATCHDOG_SEC * 3000, () => 'the observation window');
    const s = await c.show(u.service);
    expect({ pid: Number(s.MainPID), state: s.ActiveState, restarts: s.NRestarts }).toEqual({ pid: second, state: 'active', restarts: '0' });
  });

  test('kill -USR2 $MAINPID without ExecReload: RELOADING=1 then MAINPID+READY=1 keep the unit running (R4.3-R4.5)', async () => {
    const before = await mainPid(u);
    const k = await c.exec(['kill', '-USR2', String(before)]);
    expect(k.code).toBe(0);
    const after = await settled(u, before);
    expect(await servedBy(u)).toBe(after);
    // A broken version: the handoff rolls back, and READY=1 ends the reload systemd entered.
    c.writeFile(u.modeFile, 'throw\n');
    await c.exec(['kill', '-USR2', String(after)]);
    await pollUntil(async () => /handoff \d+ rolled back/.test(await c.journal(u.service, 10)), 20_000, () => 'the rollback');
    c.writeFile(u.modeFile, 'ok\n');
    await pollUntil(async () => (await c.show(u.service)).SubState === 'running', 10_000, () => `${u.service} back to running (it would stay in "reload" without READY=1)`);
    const s = await c.show(u.service);
    expect({ pid: Number(s.MainPID), state: s.ActiveState, restarts: s.NRestarts }).toEqual({ pid: after, state: 'active', restarts: '0' });
    expect(await servedBy(u)).toBe(after);
  });

  test('a wedged event loop stops the pings: systemd restarts within 2x WatchdogSec', async () => {
    const before = await mainPid(u);
    const t0 = Date.now();
    expect((await get(u.port, '/block?ms=60000')).body).toBe(`blocking ${before}\n`);
    const after = await settled(u, before);
    const ms = Date.now() - t0;
    expect(ms).toBeLessThan(2 * WATCHDOG_SEC * 1000);
    expect((await c.show(u.service)).NRestarts).toBe('1');
    expect(await c.journal(u.service)).toMatch(/[Ww]atchdog timeout/);
    console.log(`watchdog: wedged PID ${before} replaced by ${after} after ${ms} ms (WatchdogSec=${WATCHDOG_SEC})`);
    await c.systemctl(['stop', u.service]);
  });
});

lifecycle(
  'socket-activated pair (R5.1-R5.4)',
  async () => {
    const port = await freePort();
    return makeUnit('fosock', viaCli('systemd-socket'), { kind: 'systemd-socket', listen: `127.0.0.1:${port}` }).then((u) => ({ ...u, port }));
  },
  async (u) => {
    // Only the socket: the first connection starts the service (and is answered).
    await c.systemctl(['start', `${u.name}.socket`]);
    expect((await c.show(u.service)).ActiveState).toBe('inactive');
    const r = await get(u.port);
    expect(r.body).toMatch(/^hello from \d+\n$/);
  },
  true,
);

describe('socket-activated pair: the socket outlives the service', () => {
  test('a connection made while the service is stopped is answered once systemd starts it; the socket survives reloads', async () => {
    const port = await freePort();
    const u = { ...(await makeUnit('fosock2', (s) => renderSystemdSocket({ ...s, listen: `127.0.0.1:${port}` }), { kind: 'systemd-socket' })), port };
    await c.systemctl(['start', `${u.name}.socket`]);
    const first = await get(u.port); // starts the service
    const pid1 = Number(/hello from (\d+)/.exec(first.body)?.[1]);
    const ino = () => fs.readlinkSync(c.hostPath(`/proc/${containerPid(c, u.pidfile)}/fd/3`));
    const socketIno = ino();
    expect(socketIno).toMatch(/^socket:\[\d+\]$/); // the activated socket stays at fd 3 (R5.3, R5.4)
    await c.systemctl(['reload', u.service]);
    const pid2 = await settled(u, pid1);
    expect(ino()).toBe(socketIno);
    await c.systemctl(['stop', u.service]);
    expect((await c.show(`${u.name}.socket`, ['ActiveState'])).ActiveState).toBe('active');
    const t0 = Date.now();
    const r = await get(u.port); // queued in the backlog, answered by a new service
    const pid3 = Number(/hello from (\d+)/.exec(r.body)?.[1]);
    expect(pid3).not.toBe(pid2);
    expect(await settled(u)).toBe(pid3);
    expect(ino()).toBe(socketIno);
    console.log(`socket: connection while stopped answered by new PID ${pid3} after ${Date.now() - t0} ms`);
    await c.systemctl(['stop', u.service, `${u.name}.socket`]);
  });
});

describe('socket activation under Type=forking (R5.3)', () => {
  test('the launcher gets LISTEN_PID, the daemon gets the socket at fd 3; it survives a reload', async () => {
    const port = await freePort();
    // The generated .socket unit with the generated Type=forking service of the same name.
    const u = {
      ...(await makeUnit(
        'foforksock',
        (s) => [renderSystemdSocket({ ...s, listen: `127.0.0.1:${port}` })[0]!, ...renderSystemd({ ...s, kind: 'systemd' })],
        { kind: 'systemd-socket' },
      )),
      port,
    };
    await c.systemctl(['start', `${u.name}.socket`]);
    const first = await get(u.port); // activates the service
    const pid1 = await settled(u);
    expect(first.body).toBe(`hello from ${pid1}\n`);
    const socket = fs.readlinkSync(c.hostPath(`/proc/${pid1}/fd/3`));
    expect(socket).toMatch(/^socket:\[\d+\]$/);
    const { r, stats, after } = await reloadUnderLoad(u);
    expect(r.code).toBe(0);
    expect(stats.failed).toBe(0);
    expect(fs.readlinkSync(c.hostPath(`/proc/${after}/fd/3`))).toBe(socket);
    console.log(`forking+socket: reload ${pid1} -> ${after}; ${stats.ok} requests, ${stats.failed} failed`);
    await c.systemctl(['stop', u.service, `${u.name}.socket`], true);
  });
});

// systemctl stop after a handoff under load must drain, not kill. The successor is the
// old generation's child, and while the old one still drains (always, for a busy server)
// systemd 252 takes it over as MainPID (MAINPID= from the old generation, or PIDFile=
// re-read when ExecReload ends) as a PID that is "not our child" ("Supervising process …
// which is not our child. We'll most likely not notice when it exits"). Such a main PID
// is not waited for on stop: with the old generation gone the cgroup holds nothing else
// to wait for, and systemd went straight from running to stop-sigkill (Result=signal, no
// drain) until the units got ExecStop=forkover stop, which signals and waits itself.
async function stopAfterBusyHandoff(name: string, render: (spec: InitScriptSpec) => RenderedFile[], kind: InitScriptSpec['kind']) {
  const u = await makeUnit(name, render, { kind });
  await c.systemctl(['start', u.service]);
  /**
   * A /slow request in flight in `pid`: resolves once `pid` has sent its headers, to the
   * body to come, wrapped: an async function that returned the body's promise itself
   * would wait for the body, and the request would no longer be in flight.
   */
  const slowTo = async (pid: number, query: string): Promise<{ body: Promise<string> }> => {
    // No byte flows until the body: the socket's idle timeout must outlast a slow reload.
    const started = await getStarted(u.port, `/slow?${query}`, false, 120_000);
    expect({ status: started.status, pid: started.headers['x-pid'] }).toEqual({ status: 200, pid: String(pid) });
    return { body: started.body };
  };
  const before = await settled(u);
  // A request in flight keeps the old generation draining past the end of the reload. It
  // is held until the file below exists, not for a fixed time: under a CPU hog a 5 s one
  // ended before systemctl reload had even started.
  const release = `/run/${name}-release`;
  const slow1 = await slowTo(before, `until=${encodeURIComponent(release)}`);
  await c.systemctl(['reload', u.service]);
  const after = await settled(u, before);
  if (kind === 'systemd-notify') expect(await c.journal(u.service, 60)).toMatch(/Supervising process \d+ which is not our child/);
  c.writeFile(release, '', 0o644);
  expect(await slow1.body).toBe(`slow ${before}\n`);
  await pollUntil(async () => !fs.existsSync(c.hostPath(`/proc/${before}`)), 10_000, () => `old generation ${before} to exit`);
  // Stop while the adopted successor is busy: its request must finish (drain), and the
  // unit must end cleanly. The request is released only once the stop is under way.
  const release2 = `/run/${name}-release2`;
  const slow2 = await slowTo(after, `until=${encodeURIComponent(release2)}`);
  const stopping = c.systemctl(['stop', u.service], true);
  await pollUntil(async () => (await c.show(u.service)).ActiveState === 'deactivating', 20_000, () => `${u.service} to be stopping`);
  c.writeFile(release2, '', 0o644);
  await stopping;
  const s = await c.show(u.service);
  const journal = s.Result === 'success' ? '' : await c.journal(u.service, 30);
  await c.systemctl(['reset-failed', u.service], true);
  expect({ state: s.ActiveState, result: s.Result, journal }).toEqual({ state: 'inactive', result: 'success', journal: '' });
  expect(await slow2.body).toBe(`slow ${after}\n`);
  expect(fs.existsSync(c.hostPath(u.pidfile))).toBe(false);
}

test('Type=forking: systemctl stop after a handoff under load drains and stops cleanly (R3.6)', () =>
  stopAfterBusyHandoff('foafter1', renderSystemd, 'systemd'));

test('Type=notify: systemctl stop after a handoff under load drains and stops cleanly (R3.6, R4.5)', () =>
  stopAfterBusyHandoff('foafter2', renderSystemdNotify, 'systemd-notify'));

// Issue 16.2 and 16.3: the units as a user whose node is on no PATH (nvm, asdf, a
// tarball) gets them, generated by that node and without --logfile. Every program runs
// by its absolute path, and the app's output is found where the unit's comments say.
describe('a node on no PATH, no --logfile (issue 16.2, 16.3)', () => {
  /** A copy of node, in a directory no PATH names. */
  const NODE = '/opt/fo-node/bin/node';
  /** The services' PATH starts here: its "node" records that it ran and fails. */
  const FAKE_PATH = '/opt/fo-path';
  const PATH_NODE_LOG = '/run/fo-path-node.log';
  beforeAll(async () => {
    const r = await c.exec(['/usr/bin/install', '-D', '-m', '0755', '/usr/bin/node', NODE]);
    if (r.code !== 0) throw new Error(`cannot copy node to ${NODE} in the container: ${r.stderr}`);
    c.writeFile(`${FAKE_PATH}/node`, `#!/bin/sh\necho "node from PATH: $*" >> ${PATH_NODE_LOG}\nexit 97\n`, 0o755);
  });

  test.each([
    ['Type=forking: the output in the default log file', 'systemd', 'fonopath1'],
    ['Type=notify: the output in the journal', 'systemd-notify', 'fonopath2'],
  ])('%s; start, reload and stop run by absolute paths only', async (_label, kind, name) => {
    const port = await freePort();
    const service = `${name}.service`;
    const pidfile = `/run/${name}/${name}.pid`;
    const gen = await c.exec([NODE, `${SRV}/bin/forkover.js`, 'init-script', kind, '--name', name, '--', NODE, APP, '--port', String(port), '--host', '127.0.0.1']);
    // (The host's NODE_EXTRA_CA_CERTS reaches nsenter and names a file the volatile /etc
    // lacks: node warns about it. Only forkover's own words count here.)
    expect({ code: gen.code, stderr: gen.stderr.replace(/^Warning: Ignoring extra certs .*\n/m, '') }).toEqual({ code: 0, stderr: '' });
    const unit = gen.stdout;
    // ExecStart=, ExecReload= and ExecStop= all start with this node; nothing names another.
    const execs = unit.split('\n').filter((l) => /^Exec\w+=/.test(l));
    expect(execs.map((l) => l.split('=')[0])).toEqual(['ExecStart', 'ExecReload', 'ExecStop']);
    for (const l of execs) expect(l.startsWith(`${l.split('=')[0]}=${NODE} `)).toBe(true);
    expect(unit).not.toMatch(/^[^#]*(\/usr\/bin\/node|\/env\b)/m);
    // Where the comments say the output goes.
    const file = /^# The app's stdout and stderr: (\/\S+) /m.exec(unit)?.[1];
    const journal = /^# The app's stdout and stderr go to the journal \((journalctl -u \S+)\)/m.exec(unit)?.[1];
    if (kind === 'systemd') expect(file).toBe(`/var/log/${name}/${name}.log`);
    else expect(journal).toBe(`journalctl -u ${service}`);
    const output = async (): Promise<string> => {
      if (file !== undefined) return fs.existsSync(c.hostPath(file)) ? fs.readFileSync(c.hostPath(file), 'utf8') : '';
      return (await c.exec([...journal!.split(' '), '--no-pager', '-o', 'cat'])).stdout;
    };
    // The service runs with a PATH on which node is only the recording fake (a drop-in:
    // the environment the unit runs in, not the unit).
    c.writeFile(`/run/systemd/system/${service}`, unit);
    c.writeFile(`/run/systemd/system/${service}.d/path.conf`, `[Service]\nEnvironment=PATH=${FAKE_PATH}:/usr/sbin:/sbin\n`);
    await c.systemctl(['daemon-reload']);

    /** Ask the generation serving `port` to print `text`; wait until both lines are where the comments say. */
    const say = async (text: string, pid: number) => {
      expect((await get(port, `/say?text=${text}`)).body).toBe(`said by ${pid}\n`);
      let seen = '';
      await pollUntil(
        async () => {
          seen = await output();
          return seen.includes(`stdout ${text} from ${pid}\n`) && seen.includes(`stderr ${text} from ${pid}\n`);
        },
        15_000,
        () => `"${text}" from PID ${pid} in ${file ?? journal} (it has: ${seen.slice(-600)})`,
      );
    };

    await c.systemctl(['start', service]);
    const first = await unitSettled(c, service, pidfile);
    const exe = async (pid: number) => (await c.exec(['readlink', `/proc/${pid}/exe`])).stdout.trim(); // as the container sees it
    expect(await exe(first)).toBe(NODE);
    await say(`one-${name}`, first);

    const r = await c.systemctl(['reload', service], true);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    const second = await unitSettled(c, service, pidfile, first);
    expect(await exe(second)).toBe(NODE);
    await say(`two-${name}`, second); // a generation started by the reload: the same place

    await c.systemctl(['stop', service]);
    expect(await c.show(service, ['ActiveState', 'Result'])).toEqual({ ActiveState: 'inactive', Result: 'success' });
    expect(fs.existsSync(c.hostPath(PATH_NODE_LOG)) ? fs.readFileSync(c.hostPath(PATH_NODE_LOG), 'utf8') : '').toBe('');
    if (file !== undefined) expect(await output()).toContain(`stdout one-${name} from ${first}\n`); // kept after stop
  });
});
