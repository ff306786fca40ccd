// The notify protocol a generation speaks (contracts R4.1-R4.6), observed on a real
// datagram socket standing in for systemd's (test/fixtures/notify-receiver.py, which
// records each sender's PID from its credentials, as systemd does). The same behaviour
// under the real systemd is in systemd.test.ts; here every message can be seen.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { alive, cleanup, fixture, get, node, start, tmpdir, track, waitForOutput, waitUntil } from '../helpers/util.js';
import { type Datagram, notifyReceiver } from '../helpers/notify.js';

afterEach(cleanup);

const APP = fixture('systemd-app.mjs');


const has = (d: Datagram, f: string) => d.fields.includes(f);
const value = (d: Datagram, key: string) => d.fields.find((f) => f.startsWith(`${key}=`))?.slice(key.length + 1);

function startApp(dir: string, env: Record<string, string>, modeFile?: string) {
  const app = start(process.execPath, [APP, '--port', '0', '--host', '127.0.0.1', '-p', path.join(dir, 'app.pid'), ...(modeFile ? ['--mode-file', modeFile] : [])], {
    env: { ...process.env, ...env },
  });
  track(app.pid);
  return app;
}

const portOf = async (app: ReturnType<typeof start>) => Number((await waitForOutput(app, /listening on 127\.0\.0\.1:(\d+)/))[1]);

describe.each([
  ['abstract', () => `@forkover-notify-${process.pid}-${Math.random().toString(36).slice(2)}`],
  ['path', () => path.join(tmpdir('fo-nsock-'), 'notify')],
])('%s NOTIFY_SOCKET', (_kind, makeAddress) => {
  test('READY, watchdog pings, then a handoff: RELOADING+MONOTONIC_USEC, MAINPID+READY from the old PID, pings move to the new one, STOPPING', async () => {
    const dir = tmpdir();
    const address = makeAddress();
    const rx = await notifyReceiver(address, 50);
    // 600 ms watchdog: pings every 300 ms (R4.6: WATCHDOG_USEC/2), WATCHDOG_PID unset.
    // (Each ping needs an answered self-check within 300 ms: generous on a busy machine.)
    const app = startApp(dir, { NOTIFY_SOCKET: address, WATCHDOG_USEC: '600000' });
    const pid1 = app.pid!;
    const port = await portOf(app);
    const ready = await rx.waitFor((d) => d.pid === pid1 && has(d, 'READY=1'), 'READY=1 from the first generation');
    expect(value(ready, 'STATUS')).toMatch(/^serving on 127\.0\.0\.1:\d+ \(generation 1\)$/);
    await rx.waitFor((d) => d.pid === pid1 && has(d, 'WATCHDOG=1'), 'a ping from the first generation');
    // Read and removed: the app's own children never see them (R1.6).
    expect((await get(port, '/env')).body).toBe('[]\n');

    const before = process.hrtime.bigint() / 1000n;
    process.kill(pid1, 'SIGUSR2');
    const reloading = await rx.waitFor((d) => has(d, 'RELOADING=1'), 'RELOADING=1');
    expect(reloading.pid).toBe(pid1);
    // CLOCK_MONOTONIC µs, taken after the reload began (R4.3, R4.4).
    const mono = BigInt(value(reloading, 'MONOTONIC_USEC')!);
    expect(mono).toBeGreaterThanOrEqual(before);
    expect(mono).toBeLessThanOrEqual(process.hrtime.bigint() / 1000n);

    const handover = await rx.waitFor((d) => value(d, 'MAINPID') !== undefined, 'MAINPID=');
    const pid2 = Number(value(handover, 'MAINPID'));
    track(pid2);
    expect(pid2).not.toBe(pid1);
    // One datagram, from the old main PID, carrying both (R4.5).
    expect(handover.pid).toBe(pid1);
    expect(handover.fields).toEqual(expect.arrayContaining([`MAINPID=${pid2}`, 'READY=1']));
    // The new generation said nothing before it was main.
    const all = rx.all();
    const at = all.findIndex((d) => value(d, 'MAINPID') !== undefined);
    expect(all.slice(0, at).filter((d) => d.pid === pid2)).toEqual([]);

    // It pings from then on; the old one never again.
    const firstPing2 = await rx.waitFor((d) => d.pid === pid2 && has(d, 'WATCHDOG=1'), 'a ping from the new generation');
    expect(firstPing2.ms - handover.ms).toBeLessThan(2_000);
    await waitUntil(() => !alive(pid1), 10_000, 'the old generation to exit');
    expect(rx.all().filter((d) => d.pid === pid1 && d.ms > handover.ms)).toEqual([]);
    expect((await get(port)).body).toBe(`hello from ${pid2}\n`);
    expect((await get(port, '/env')).body).toBe('[]\n');

    // A wedged event loop: no ping while it lasts, pings again after (R4.6).
    const blocked = await get(port, '/block?ms=2500');
    expect(blocked.body).toBe(`blocking ${pid2}\n`);
    const t0 = rx.all().filter((d) => d.pid === pid2 && has(d, 'WATCHDOG=1')).pop()!.ms;
    const resumed = await rx.waitFor((d) => d.pid === pid2 && has(d, 'WATCHDOG=1') && d.ms > t0 + 2_000, 'pings to resume after the block');
    const pings = rx.all().filter((d) => d.pid === pid2 && has(d, 'WATCHDOG=1'));
    const gap = Math.max(...pings.map((d, i) => (i === 0 ? 0 : d.ms - pings[i - 1]!.ms)));
    expect(gap).toBeGreaterThan(2_000); // the block (2.5 s) silenced them
    expect(resumed.pid).toBe(pid2);

    process.kill(pid2, 'SIGTERM');
    const stopping = await rx.waitFor((d) => has(d, 'STOPPING=1'), 'STOPPING=1');
    expect(stopping.pid).toBe(pid2);
    await waitUntil(() => !alive(pid2), 10_000, 'the new generation to stop');
    console.log(`${_kind}: handoff ${pid1} -> ${pid2}; first ping of the new PID ${Math.round(firstPing2.ms - handover.ms)} ms after MAINPID; longest ping gap while wedged ${Math.round(gap)} ms`);
  });
});

test("the app's own failing health check stops the pings (onHealthCheck, R4.6)", async () => {
  const dir = tmpdir();
  const address = `@forkover-sick-${process.pid}`;
  const rx = await notifyReceiver(address, 50);
  const modeFile = path.join(dir, 'mode');
  fs.writeFileSync(modeFile, 'sick\n');
  const app = startApp(dir, { NOTIFY_SOCKET: address, WATCHDOG_USEC: '200000' }, modeFile);
  await rx.waitFor((d) => d.pid === app.pid && has(d, 'READY=1'), 'READY=1');
  await waitForOutput(app, /watchdog: self-check failed \(fixture: sick on purpose\); not pinging/);
  // Ten intervals later: still not one ping.
  const t = Date.now() + 1_000;
  await waitUntil(() => Date.now() > t, 2_000, 'ten ping intervals');
  expect(rx.all().filter((d) => has(d, 'WATCHDOG=1'))).toEqual([]);
});

test('WATCHDOG_PID naming another process: the watchdog is not ours, no pings (R4.6)', async () => {
  const dir = tmpdir();
  const address = `@forkover-wdpid-${process.pid}`;
  const rx = await notifyReceiver(address, 50);
  const app = startApp(dir, { NOTIFY_SOCKET: address, WATCHDOG_USEC: '200000', WATCHDOG_PID: String(process.pid) });
  await rx.waitFor((d) => d.pid === app.pid && has(d, 'READY=1'), 'READY=1');
  const t = Date.now() + 600;
  await waitUntil(() => Date.now() > t, 2_000, 'six ping intervals');
  expect(rx.all().filter((d) => has(d, 'WATCHDOG=1'))).toEqual([]);
});

test('NOTIFY_SOCKET set but unreachable: start-up fails loudly, nothing left behind (R4.7 c)', async () => {
  const dir = tmpdir();
  const r = await node(APP, ['--port', '0', '--host', '127.0.0.1', '-p', path.join(dir, 'app.pid')], {
    env: { ...process.env, NOTIFY_SOCKET: path.join(dir, 'no-such-socket') },
    timeoutMs: 15_000,
  });
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/cannot start: cannot notify the service manager at .*no-such-socket/);
  expect(fs.existsSync(path.join(dir, 'app.pid'))).toBe(false);
});

test('--daemon strips NOTIFY_SOCKET (notify mode is foreground only, R4.1)', async () => {
  const dir = tmpdir();
  const address = `@forkover-daemon-${process.pid}`;
  const rx = await notifyReceiver(address, 50);
  const r = await node(APP, ['--port', '0', '--host', '127.0.0.1', '--daemon', '-p', path.join(dir, 'app.pid'), '-l', path.join(dir, 'log')], {
    env: { ...process.env, NOTIFY_SOCKET: address },
  });
  expect(r.code).toBe(0);
  const pid = Number(fs.readFileSync(path.join(dir, 'app.pid'), 'utf8'));
  track(pid);
  expect(fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').some((e) => e.startsWith('NOTIFY_SOCKET='))).toBe(false);
  expect(rx.all()).toEqual([]);
});
