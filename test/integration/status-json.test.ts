// Issue 7: `forkover status --json` has a stable, documented shape. The schema below is
// checked against the README's "status --json" table (same fields, same types) and
// against real output: running, draining after a handoff, after a rolled-back handoff,
// dead (pidfile left by a killed daemon), stopped, and unknown (a pidfile without a PID). Exit codes: R6.2.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { ROOT, alive, cleanup, cli, fixture, get, readPid, startDaemon, tmpdir, track, waitUntil } from '../helpers/util.js';

afterEach(cleanup);

/** A type as the README writes it, and its check. */
interface T {
  doc: string;
  ok: (v: unknown) => boolean;
}
const integer: T = { doc: 'integer', ok: (v) => Number.isInteger(v) };
const string: T = { doc: 'string', ok: (v) => typeof v === 'string' };
const iso: T = { doc: 'ISO 8601 string', ok: (v) => typeof v === 'string' && !Number.isNaN(Date.parse(v)) && new Date(v).toISOString() === v };
const oneOf = (...values: string[]): T => ({ doc: values.map((v) => `"${v}"`).join(' | '), ok: (v) => values.includes(v as string) });
const orNull = (t: T): T => ({ doc: `${t.doc} | null`, ok: (v) => v === null || t.ok(v) });
const array: T = { doc: 'array', ok: Array.isArray };
const object: T = { doc: 'object', ok: (v) => typeof v === 'object' && v !== null && !Array.isArray(v) };
const objectOrNull = orNull(object);

/** Every field, nested ones as `a.b` (objects) and `a[].b` (array items). */
const SCHEMA: Record<string, T> = {
  status: oneOf('running', 'dead', 'stopped', 'unknown'),
  exitCode: integer,
  pidfile: string,
  pid: orNull(integer),
  message: string,
  generation: orNull(integer),
  startedAt: orNull(iso),
  uptimeSeconds: orNull(integer),
  listeners: array,
  'listeners[].name': string,
  'listeners[].address': string,
  workers: array,
  'workers[].pid': integer,
  'workers[].starttime': integer,
  draining: array,
  'draining[].pid': integer,
  'draining[].starttime': integer,
  lastHandoff: objectOrNull,
  'lastHandoff.seq': integer,
  'lastHandoff.outcome': oneOf('ok', 'rolled-back', 'refused'),
  'lastHandoff.reason': orNull(string),
  'lastHandoff.oldPid': integer,
  'lastHandoff.newPid': orNull(integer),
  'lastHandoff.durationMs': orNull(integer),
  'lastHandoff.at': iso,
  standby: objectOrNull,
  'standby.pid': integer,
  'standby.starttime': integer,
  log: objectOrNull,
  'log.path': orNull(string),
  'log.failing': objectOrNull,
  'log.failing.since': iso,
  'log.failing.error': string,
};

/** Problems with `doc` against SCHEMA: wrong types, missing or undocumented fields. */
function validate(doc: unknown): string[] {
  const problems: string[] = [];
  const fieldsAt = (prefix: string) =>
    Object.keys(SCHEMA)
      .filter((k) => k.startsWith(prefix) && !k.slice(prefix.length).includes('.') && !k.slice(prefix.length).includes('[]'))
      .map((k) => k.slice(prefix.length));
  const walk = (value: unknown, prefix: string) => {
    const expected = fieldsAt(prefix);
    const actual = Object.keys(value as object);
    for (const k of actual) if (!expected.includes(k)) problems.push(`undocumented field ${prefix}${k}`);
    for (const k of expected) {
      const key = `${prefix}${k}`;
      if (!(k in (value as object))) {
        problems.push(`missing field ${key}`);
        continue;
      }
      const v = (value as Record<string, unknown>)[k];
      if (!SCHEMA[key]!.ok(v)) problems.push(`${key} is ${JSON.stringify(v)}, not ${SCHEMA[key]!.doc}`);
      else if (Array.isArray(v)) v.forEach((item) => walk(item, `${key}[].`));
      else if (typeof v === 'object' && v !== null) walk(v, `${key}.`);
    }
  };
  if (!object.ok(doc)) return ['not an object'];
  walk(doc, '');
  return problems;
}

/** Run `status --json`; validate; the exit code must be the document's exitCode. */
async function status(pidfile: string): Promise<Record<string, any>> {
  const r = await cli(['status', '-p', pidfile, '--json']);
  const doc = JSON.parse(r.stdout) as Record<string, any>;
  expect(validate(doc)).toEqual([]);
  expect(r.code).toBe(doc.exitCode);
  expect(doc.pidfile).toBe(pidfile);
  return doc;
}

test('the README documents exactly these fields, with these types', () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = /^## `status --json`\n([\s\S]*?)(?=^## )/m.exec(readme)?.[1];
  expect(section).toBeDefined();
  const rows = new Map<string, string>();
  for (const line of section!.split('\n')) {
    const m = /^\| `([^`]+)` \| (.+?) \| .* \|$/.exec(line);
    if (m) rows.set(m[1]!, m[2]!.replace(/\\\|/g, '|').replace(/`/g, ''));
  }
  expect([...rows.keys()].sort()).toEqual(Object.keys(SCHEMA).sort());
  for (const [field, t] of Object.entries(SCHEMA)) expect(`${field}: ${rows.get(field)}`).toBe(`${field}: ${t.doc}`);
});

test('the validator rejects a wrong type, a missing field and an extra field', () => {
  // So that a passing validate() below means something.
  expect(validate({ status: 'running' })).toContain('missing field exitCode');
  const good = {
    status: 'stopped', exitCode: 3, pidfile: '/x', pid: null, message: '', generation: null, startedAt: null, uptimeSeconds: null,
    listeners: [], workers: [], draining: [], lastHandoff: null, standby: null, log: null,
  };
  expect(validate(good)).toEqual([]);
  expect(validate({ ...good, pid: '12' })).toEqual(['pid is "12", not integer | null']);
  expect(validate({ ...good, extra: 1 })).toEqual(['undocumented field extra']);
  expect(validate({ ...good, lastHandoff: { seq: 1 } })).toContain('missing field lastHandoff.outcome');
});

test('status --json: running, draining after a handoff, rolled back, dead, stopped, unknown', async () => {
  const dir = tmpdir();
  const modeFile = path.join(dir, 'mode');
  const d = await startDaemon(dir, ['--mode-file', modeFile, '--drain-timeout', '20'], fixture('app.mjs'));

  let s = await status(d.pidfile);
  expect(s).toMatchObject({ status: 'running', exitCode: 0, pid: d.pid, generation: 1, lastHandoff: null, draining: [] });
  expect(s.log).toEqual({ path: d.logfile, failing: null }); // issue 17: a log that takes writes
  expect(s.listeners).toEqual([{ name: 'http', address: `127.0.0.1:${d.port}` }]);
  expect(s.workers.map((w: { pid: number }) => w.pid)).toEqual([d.pid]);

  // A slow request keeps the old generation draining while we look. It goes over a
  // keep-alive connection the old generation already served, so it is surely the old
  // generation's (a new connection could sit in the shared backlog for either).
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  expect((await get(d.port, '/', agent)).body).toBe(`hello from ${d.pid}\n`);
  const slow = get(d.port, '/slow?ms=5000', agent);
  const reload = await cli(['reload', '-p', d.pidfile], { timeoutMs: 20_000 });
  expect(reload.code).toBe(0);
  const g2 = readPid(d.pidfile)!;
  track(g2);
  s = await status(d.pidfile);
  expect(s).toMatchObject({ status: 'running', pid: g2, generation: 2 });
  expect(s.draining.map((g: { pid: number }) => g.pid)).toEqual([d.pid]);
  expect(s.lastHandoff).toMatchObject({ seq: 1, outcome: 'ok', reason: null, oldPid: d.pid, newPid: g2 });
  expect(s.lastHandoff.durationMs).toBeGreaterThan(0);
  expect((await slow).body).toBe(`slow ${d.pid}\n`);
  agent.destroy();
  await waitUntil(() => !alive(d.pid), 10_000, 'the old generation to finish draining');
  expect((await status(d.pidfile)).draining).toEqual([]);

  // The next version fails to start: rolled back, with the reason.
  fs.writeFileSync(modeFile, 'throw\n');
  expect((await cli(['reload', '-p', d.pidfile], { timeoutMs: 20_000 })).code).toBe(1);
  s = await status(d.pidfile);
  expect(s).toMatchObject({ status: 'running', pid: g2, generation: 2 });
  expect(s.lastHandoff).toMatchObject({ seq: 2, outcome: 'rolled-back', oldPid: g2 });
  expect(s.lastHandoff.reason).toMatch(/boom before listening/);

  // Killed without a chance to clean up: dead, pidfile left (LSB status 1).
  process.kill(g2, 'SIGKILL');
  await waitUntil(() => !alive(g2), 5_000, 'the killed daemon to go');
  s = await status(d.pidfile);
  expect(s).toMatchObject({ status: 'dead', exitCode: 1, pid: g2, generation: null, lastHandoff: null });

  // stop clears the stale pidfile; then: stopped (LSB status 3).
  expect((await cli(['stop', '-p', d.pidfile])).code).toBe(0);
  s = await status(d.pidfile);
  expect(s).toMatchObject({ status: 'stopped', exitCode: 3, pid: null, listeners: [], workers: [], draining: [] });

  // A pidfile that holds no PID: unknown (LSB status 4), still the same shape.
  fs.writeFileSync(d.pidfile, 'not a pid\n');
  s = await status(d.pidfile);
  expect(s).toMatchObject({ status: 'unknown', exitCode: 4, pid: null });
  expect(s.message).toMatch(/does not hold a PID/);
});
