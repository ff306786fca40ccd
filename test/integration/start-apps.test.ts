// forkover start -- node app.js on real, unmodified apps (issue 14, acceptance 1): plain
// http, Express, Koa, Fastify, HTTPS, raw TCP, a unix socket and two listeners. Each app
// calls its own listen() and imports nothing of forkover. Each test starts the app as a
// daemon, reloads it once under keep-alive load and once under a new connection per
// request, and stops it: zero failed requests, the old generation exits, the new one
// answers, and stop leaves no process and no pidfile.
//
// Both ways the app can run are covered: `node app.js` runs it in the forkover process
// itself (in-process), `node --no-warnings app.js` makes forkover spawn Node with the
// preload (spawned). plain http and two listeners run both ways, the rest alternate.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { alive, cleanup, cli, fixture, freePort, holdersOf, readPid, reloadToNew, tmpdir, track, waitUntil } from '../helpers/util.js';
import { type LoadTarget, loadTarget } from '../helpers/load.js';
import { makeCert } from '../helpers/tls.js';

const F = (n: string): string => fixture(`start/${n}`);
afterEach(cleanup);


/** Which PIDs answer one request to `target`, on a fresh connection. */
async function answerOnce(target: LoadTarget): Promise<Record<string, number>> {
  const s = await loadTarget(target, { concurrency: 1, maxRequests: 1, maxMs: 10_000 }).done;
  expect(s.failed).toBe(0);
  return s.byPid;
}

interface App {
  fixture: string;
  /** in-process: `node app` runs in forkover's own process; spawned: `node --no-warnings app`. */
  form: 'in-process' | 'spawned';
  listeners?: number;
  /** The app's arguments and what to load, given the test's temp dir. */
  setup(dir: string): Promise<{ args: string[]; targets: LoadTarget[] }>;
}

const onePort = async () => {
  const port = await freePort();
  return { args: ['--port', String(port)], targets: [{ kind: 'http', port }] as LoadTarget[] };
};
const twoPorts = async () => {
  const [a, b] = [await freePort(), await freePort()];
  return { args: ['--port', String(a), '--port2', String(b)], targets: [{ kind: 'http', port: a }, { kind: 'http', port: b }] as LoadTarget[] };
};

const APPS: [string, App][] = [
  ['plain http', { fixture: 'http.cjs', form: 'in-process', setup: onePort }],
  ['plain http', { fixture: 'http.cjs', form: 'spawned', setup: onePort }],
  ['two listeners (--listeners 2)', { fixture: 'two.cjs', form: 'in-process', listeners: 2, setup: twoPorts }],
  ['two listeners (--listeners 2)', { fixture: 'two.cjs', form: 'spawned', listeners: 2, setup: twoPorts }],
  ['Express 5', { fixture: 'express.cjs', form: 'spawned', setup: onePort }],
  ['Koa 3 (ESM)', { fixture: 'koa.mjs', form: 'in-process', setup: onePort }],
  ['Fastify 5 (ESM, app.listen({ port }))', { fixture: 'fastify.mjs', form: 'spawned', setup: onePort }],
  [
    'HTTPS',
    {
      fixture: 'https.cjs',
      form: 'in-process',
      setup: async (dir) => {
        const tls = await makeCert(dir);
        const port = await freePort();
        return { args: ['--port', String(port), '--key', tls.key, '--cert', tls.cert], targets: [{ kind: 'https', port, ca: tls.ca }] };
      },
    },
  ],
  [
    'raw TCP',
    {
      fixture: 'tcp.cjs',
      form: 'spawned',
      setup: async () => {
        const port = await freePort();
        return { args: ['--port', String(port)], targets: [{ kind: 'tcp', port }] };
      },
    },
  ],
  [
    'unix socket',
    {
      fixture: 'unix.cjs',
      form: 'in-process',
      setup: async (dir) => {
        const socketPath = path.join(dir, 'app.sock');
        return { args: ['--path', socketPath], targets: [{ kind: 'unix', socketPath }] };
      },
    },
  ],
];

const MODES = [
  ['keep-alive', true],
  ['a new connection per request', false],
] as const;

const results: string[] = [];
afterAll(() => {
  if (results.length > 0) console.log(`forkover start, requests per app and load mode:\n${results.join('\n')}`);
});

describe('forkover start on unmodified apps (issue 14)', () => {
  test.each(APPS.map(([name, app]) => [name, app.form, app] as const))('%s, %s: reloads under keep-alive and new-connection load lose no request; stop leaves nothing', async (name, _form, app) => {
    const dir = tmpdir();
    const pidfile = path.join(dir, 'app.pid');
    const logfile = path.join(dir, 'app.log');
    const { args, targets } = await app.setup(dir);
    const node = app.form === 'spawned' ? ['node', '--no-warnings'] : ['node'];
    const flags = ['--daemon', '-p', pidfile, '-l', logfile, ...(app.listeners !== undefined ? ['--listeners', String(app.listeners)] : [])];
    const started = await cli(['start', ...flags, '--', ...node, F(app.fixture), ...args], { cwd: dir });
    const first = readPid(pidfile);
    track(first);
    const logTail = () => (fs.existsSync(logfile) ? fs.readFileSync(logfile, 'utf8').slice(-2000) : '(no log)');
    if (started.code !== 0 || first === undefined) throw new Error(`start exited ${started.code}: ${started.stderr}\n${started.stdout}\nlog:\n${logTail()}`);
    for (const t of targets) expect(Object.keys(await answerOnce(t))).toEqual([String(first)]);

    const generations = [first];
    let old = first;
    for (const [mode, keepAlive] of MODES) {
      const loads = targets.map((t) => loadTarget(t, { keepAlive, concurrency: 4, maxMs: 30_000 }));
      try {
        await waitUntil(() => loads.every((l) => (l.stats.byPid[old] ?? 0) > 0), 10_000, `load answered by the old generation ${old}`);
        const next = await reloadToNew(pidfile);
        generations.push(next);
        // The state asserted, not a proxy: the old generation is gone (it stopped accepting
        // and drained), and only then must every answer come from the new one.
        await waitUntil(() => !alive(old), 20_000, () => `the old generation ${old} to exit; log:\n${logTail()}`);
        await waitUntil(() => loads.every((l) => (l.stats.byPid[next] ?? 0) > 0), 10_000, `load answered by the new generation ${next}`);
        const stats = await Promise.all(loads.map((l) => l.stop()));
        stats.forEach((s, i) => {
          results.push(`  ${name} (${app.form}) ${mode}${targets.length > 1 ? ` listener ${i + 1}` : ''}: ${s.ok} ok, ${s.failed} failed ${JSON.stringify(s.byPid)}`);
        });
        for (const s of stats) {
          expect({ failed: s.failed, byKind: s.byKind, errors: s.errors }).toEqual({ failed: 0, byKind: {}, errors: [] });
          expect(s.ok).toBeGreaterThan(0);
        }
        for (const t of targets) expect(Object.keys(await answerOnce(t))).toEqual([String(next)]);
        old = next;
      } finally {
        await Promise.all(loads.map((l) => l.stop()));
      }
    }
    expect(new Set(generations).size).toBe(3);

    const stopped = await cli(['stop', '-p', pidfile], { timeoutMs: 45_000 });
    expect(stopped.code).toBe(0);
    expect(fs.existsSync(pidfile)).toBe(false);
    for (const pid of generations) expect(alive(pid)).toBe(false);
    // No process of this daemon is left: none holds the log (or anything) in the test's dir.
    expect(holdersOf([dir])).toEqual([]);
    for (const t of targets) if (t.kind === 'unix') expect(fs.existsSync(t.socketPath)).toBe(false);
  });
});
