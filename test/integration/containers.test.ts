// Issue 15: forkover in containers. Each test runs forkover as the PID 1 of a real
// container (systemd-nspawn without --boot: the command itself is PID 1, as `docker run`
// runs an image's CMD), with the host's /usr and the checkout bound at /srv/forkover. The
// container shares the host's network namespace, so the load goes to 127.0.0.1.
//
//  - PID 1 mode: USR2 to the container's PID 1 (from the host, by its host PID) hands
//    over as on a host, three times under load with 0 failed requests; the init reaps
//    the replaced generations and an orphan the app left behind; TERM exits the
//    container with status 0.
//  - Kubernetes-correct stop: a "load balancer" that keeps opening new connections for
//    2 s after TERM (endpoint propagation) loses nothing with --stop-delay 2, while
//    /readyz answers 503 and /healthz 200; without the delay the same stop refuses
//    connections.
import { SRV, freePort, runAsPid1, type Pid1Container } from '../helpers/systemd.js';
import { alive, childrenOf, cleanup, get, load, procStat, waitUntil, type LoadStats } from '../helpers/util.js';

afterEach(cleanup);

const NODE = '/usr/bin/node';
const APP = `${SRV}/test/fixtures/container-app.mjs`;

/** Start the app as PID 1 and wait until its first generation serves on `port`. */
async function container(port: number, flags: string[] = []): Promise<Pid1Container> {
  const c = await runAsPid1([NODE, APP, '--port', String(port), '--host', '127.0.0.1', '-p', '/run/app.pid', ...flags]);
  let gone = false;
  void c.exited.then(() => (gone = true));
  await waitUntil(
    () => {
      if (gone) throw new Error(`the container exited before its first generation served: ${c.output().slice(-1500)}`);
      return /generation PID \d+ serves/.test(c.output());
    },
    30_000,
    () => `the first generation to serve (output: ${c.output().slice(-1500)})`,
  );
  return c;
}

/** Zombie children of the container's PID 1 (host view). */
function zombiesOf(pid: number): number[] {
  return childrenOf(pid).filter((p) => procStat(p)?.state === 'Z');
}

function summary(s: LoadStats): string {
  return `${s.ok} ok, ${s.failed} failed ${JSON.stringify(s.byKind)}${s.errors.length ? ` (${s.errors.slice(0, 3).join('; ')})` : ''}`;
}

describe("forkover as a container's PID 1 (systemd-nspawn)", () => {
  test('USR2 to PID 1 hands over three times under load with 0 failed requests; orphans and old generations are reaped; TERM exits the container 0', async () => {
    const port = await freePort();
    const c = await container(port);
    expect((await get(port)).body).toMatch(/^hello from \d+\n$/);

    // An orphan: the app's child starts a sleep and exits, so the sleep is reparented to
    // PID 1, the init (not to a generation). It must be reaped when it dies.
    const orphanNsPid = Number((await get(port, '/orphan')).body);
    const orphan = await waitUntil(
      () => childrenOf(c.pid1).find((p) => procStat(p)?.comm === 'sleep'),
      10_000,
      `the orphaned sleep (PID ${orphanNsPid} in the container) to be reparented to PID 1 (host PID ${c.pid1})`,
    );
    expect(procStat(orphan)?.ppid).toBe(c.pid1);

    const keepAlive = load(port, { concurrency: 4, keepAlive: true, maxMs: 120_000 });
    const fresh = load(port, { concurrency: 4, keepAlive: false, maxMs: 120_000 });
    await waitUntil(() => keepAlive.stats.ok > 50 && fresh.stats.ok > 50, 20_000, 'load to get going');
    const served: string[] = [];
    for (let i = 1; i <= 3; i++) {
      const before = (c.output().match(/generation PID (\d+) serves/g) ?? []).length;
      process.kill(c.pid1, 'SIGUSR2');
      // The init names the new generation, then the old one drains and exits (its log).
      const m = await waitUntil(
        () => [...c.output().matchAll(/generation PID (\d+) serves; PID (\d+) drains/g)][before - 1],
        30_000,
        () => `handoff ${i} (output: ${c.output().slice(-1500)})`,
      );
      await waitUntil(() => c.output().includes(`generation PID ${m[2]} exited with code 0`), 30_000, () => `generation ${m[2]} to exit after handoff ${i}`);
      served.push(m[1]!);
      // Requests reach the new generation before the next handoff.
      await waitUntil(async () => (await get(port)).body === `hello from ${m[1]}\n`, 10_000, `generation ${m[1]} to answer`);
    }
    const [ka, fr] = await Promise.all([keepAlive.stop(), fresh.stop()]);
    console.log(`PID 1 mode: 3 handoffs (${served.join(' -> ')}); keep-alive load ${summary(ka)}; new-connection load ${summary(fr)}`);
    expect(ka.failed).toBe(0);
    expect(fr.failed).toBe(0);
    expect(new Set([...ka.pids, ...fr.pids]).size).toBeGreaterThanOrEqual(4);

    // Replaced generations were reaped (the first was PID 1's own child, the others were
    // reparented to it when their parent exited), and so is the orphan once it dies.
    await waitUntil(() => zombiesOf(c.pid1).length === 0, 10_000, () => `no zombie children of PID 1 (now ${zombiesOf(c.pid1).join(', ')})`);
    process.kill(orphan, 'SIGKILL');
    await waitUntil(() => procStat(orphan) === undefined, 10_000, () => `the orphan (host PID ${orphan}) to be reaped (state ${procStat(orphan)?.state})`);

    process.kill(c.pid1, 'SIGTERM');
    expect(await c.exited).toEqual({ code: 0, signal: null });
    expect(alive(c.pid1)).toBe(false);
    expect(c.output()).toContain('exiting with status 0');
  });

  /**
   * Load with a new connection per request, as a proxy opens them, through a stop: TERM
   * to PID 1, and the load goes on for `propagationMs` after it (the time endpoints take
   * to stop routing to a terminating pod). Probes /readyz and /healthz meanwhile.
   */
  async function stopUnderLoad(flags: string[], propagationMs: number) {
    const port = await freePort();
    const health = await freePort();
    const c = await container(port, ['--health', `127.0.0.1:${health}`, ...flags]);
    expect(await get(health, '/healthz')).toMatchObject({ status: 200, body: 'ok\n' });
    expect(await get(health, '/readyz')).toMatchObject({ status: 200, body: 'ready\n' });
    const lb = load(port, { concurrency: 8, keepAlive: false, maxMs: 60_000 });
    await waitUntil(() => lb.stats.ok > 100, 20_000, 'load to get going');
    process.kill(c.pid1, 'SIGTERM');
    // The product's delay is the subject here; this timer is the load balancer's own
    // propagation window, not a wait for something to happen.
    const lbDone = new Promise<LoadStats>((resolve) => setTimeout(() => resolve(lb.stop()), propagationMs));
    return { c, port, health, lbDone };
  }

  test('--stop-delay 2: new connections for 2 s after TERM all succeed; /readyz is 503 and /healthz 200 during the delay; the container exits 0', async () => {
    const { c, health, lbDone } = await stopUnderLoad(['--stop-delay', '2'], 2_000);
    await waitUntil(
      async () => (await get(health, '/readyz').catch(() => undefined))?.status === 503,
      1_500,
      'readiness to fail during the stop delay',
    );
    expect(await get(health, '/healthz')).toMatchObject({ status: 200, body: 'ok\n' });
    const stats = await lbDone;
    console.log(`stop with --stop-delay 2, new connections for 2 s after TERM: ${summary(stats)}`);
    expect(stats.ok).toBeGreaterThan(100);
    expect(stats.failed).toBe(0);
    expect(await c.exited).toEqual({ code: 0, signal: null });
    expect(c.output()).toMatch(/--stop-delay 2 s: still accepting and serving/);
  });

  test('without --stop-delay the same stop refuses the connections that arrive after TERM', async () => {
    const { c, lbDone } = await stopUnderLoad([], 2_000);
    const stats = await lbDone;
    console.log(`stop without --stop-delay, new connections for 2 s after TERM: ${summary(stats)}`);
    expect(stats.byKind.refused ?? 0).toBeGreaterThan(0);
    expect(await c.exited).toEqual({ code: 0, signal: null });
  });
});
