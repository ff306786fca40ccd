// Issue 13, items 1 and 2: a short real run of bench/timeline.mjs (the README's picture is
// a full run of it) produces a valid image. The SVG is parsed as XML (strictly, below)
// and must be plain: no script, style sheet, external reference or event attribute, so
// GitHub shows it in a README. One panel per tool and load mode, each with its axes, its
// answered-requests path, its reload bands and one failure mark per 100 ms in which a
// request failed, as the JSON counts them; the JSON's buckets add up to its totals. The
// run starts real daemons and a PM2 cluster: every PID it names is gone afterwards.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT, alive, cleanup, node, tmpdir } from '../helpers/util.js';

afterEach(cleanup);

const KINDS = ['refused', 'reset', 'timeout', 'non2xx', 'other'] as const;
type Kind = (typeof KINDS)[number];

interface Panel {
  tool: string;
  label: string;
  mode: string;
  keepAlive: boolean;
  requests: number;
  ok: number;
  failed: number;
  failures: Record<Kind, number>;
  reloads: { startMs: number; endMs: number; code: number }[];
  buckets: { completed: number[]; failed: Record<Kind, number[]> };
  failureRecords: { kind: Kind; sentMs: number; seenMs: number }[];
  pids: number[];
  loadMs: number;
}

interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
}

/**
 * A strict parser for the XML subset an SVG writer emits: one optional XML declaration,
 * elements, attributes in double or single quotes, character data with the five named
 * entities and numeric references. Anything else (a DOCTYPE, CDATA, a comment, an
 * unknown entity, a stray '<' or '&', an unclosed or crossed tag) throws.
 */
function parseXml(src: string): XmlElement {
  let i = 0;
  const fail = (why: string): never => {
    throw new Error(`not well-formed XML at offset ${i} (${JSON.stringify(src.slice(i, i + 40))}): ${why}`);
  };
  const decode = (s: string): string =>
    s.replace(/&([^;]*);|&/g, (m, ent: string | undefined) => {
      if (ent === undefined) return fail('a bare &');
      const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
      if (ent in named) return named[ent]!;
      const n = /^#(\d+)$/.exec(ent) ? Number(ent.slice(1)) : /^#x[0-9a-f]+$/i.exec(ent) ? parseInt(ent.slice(2), 16) : fail(`unknown entity ${m}`);
      return String.fromCodePoint(n);
    });
  const NAME = /[A-Za-z_][\w.:-]*/y;
  const name = (): string => {
    NAME.lastIndex = i;
    const m = NAME.exec(src) ?? fail('expected a name');
    i = NAME.lastIndex;
    return m[0];
  };
  const space = () => {
    while (/\s/.test(src[i] ?? '')) i++;
  };
  const element = (): XmlElement => {
    if (src[i] !== '<') fail('expected <');
    i++;
    const el: XmlElement = { name: name(), attrs: {}, children: [], text: '' };
    for (;;) {
      const before = i;
      space();
      if (src.startsWith('/>', i)) {
        i += 2;
        return el;
      }
      if (src[i] === '>') {
        i++;
        break;
      }
      if (i === before) fail('expected a space before an attribute');
      const a = name();
      if (a in el.attrs) fail(`attribute ${a} twice`);
      space();
      if (src[i] !== '=') fail('expected =');
      i++;
      space();
      const q = src[i] === '"' || src[i] === "'" ? src[i]! : fail('attribute value not quoted');
      const end = src.indexOf(q, i + 1);
      if (end < 0) fail('unterminated attribute value');
      const raw = src.slice(i + 1, end);
      if (raw.includes('<')) fail('< in an attribute value');
      el.attrs[a] = decode(raw);
      i = end + 1;
    }
    for (;;) {
      const lt = src.indexOf('<', i);
      if (lt < 0) fail(`<${el.name}> never closed`);
      el.text += decode(src.slice(i, lt));
      i = lt;
      if (src.startsWith('</', i)) {
        i += 2;
        const closing = name();
        if (closing !== el.name) fail(`</${closing}> closes <${el.name}>`);
        space();
        if (src[i] !== '>') fail('expected >');
        i++;
        return el;
      }
      if (src[i + 1] === '!' || src[i + 1] === '?') fail('a comment, CDATA, DOCTYPE or processing instruction');
      el.children.push(element());
    }
  };
  if (src.startsWith('<?xml')) {
    const end = src.indexOf('?>');
    if (end < 0) fail('unterminated XML declaration');
    i = end + 2;
  }
  space();
  const root = element();
  space();
  if (i !== src.length) fail('content after the root element');
  return root;
}

const all = (el: XmlElement): XmlElement[] => [el, ...el.children.flatMap(all)];
const classes = (el: XmlElement): string[] => (el.attrs.class ?? '').split(/\s+/).filter(Boolean);
const textOf = (el: XmlElement): string => el.text + el.children.map(textOf).join('');
const sum = (xs: number[]) => xs.reduce((s, v) => s + v, 0);
const thousands = (n: number) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');

test('bench/timeline.mjs --quick: a plain SVG with a panel per tool and mode, axes and a mark per failed bucket; the JSON adds up; every process gone', async () => {
  if (!fs.existsSync(path.join(ROOT, 'node_modules/pm2/bin/pm2'))) throw new Error('pm2 (a devDependency this test runs) is missing; run: npm install');
  const out = tmpdir('forkover-timeline-');
  const r = await node(path.join(ROOT, 'bench/timeline.mjs'), ['--quick', '--seconds', '4', '--reloads', '2', '--out', out], { timeoutMs: 280_000 });
  if (r.code !== 0) throw new Error(`bench/timeline.mjs exited ${r.code} (${r.signal ?? 'no signal'}):\n${r.stdout}\n${r.stderr}`);

  const result = JSON.parse(fs.readFileSync(path.join(out, 'timeline.json'), 'utf8')) as { bucketMs: number; quick: boolean; panels: Panel[] };
  expect(result.bucketMs).toBe(100);
  expect(result.quick).toBe(true);
  const panels = result.panels;
  expect(panels.map((p) => `${p.tool} ${p.keepAlive}`).sort()).toEqual(
    ['forkover false', 'forkover true', 'forkover-start false', 'forkover-start true', 'pm2 false', 'pm2 true'],
  );

  for (const p of panels) {
    const what = `${p.label}, ${p.mode}`;
    // The numbers add up: buckets to totals, totals to requests.
    expect([what, p.ok + p.failed]).toEqual([what, p.requests]);
    expect([what, sum(p.buckets.completed)]).toEqual([what, p.ok]);
    for (const k of KINDS) expect([what, k, sum(p.buckets.failed[k])]).toEqual([what, k, p.failures[k]]);
    expect([what, sum(KINDS.map((k) => p.failures[k]))]).toEqual([what, p.failed]);
    expect([what, p.failureRecords.length]).toEqual([what, p.failed]);
    for (const arr of [p.buckets.completed, ...KINDS.map((k) => p.buckets.failed[k])]) {
      expect(arr.length).toBe(p.buckets.completed.length);
      expect(arr.length).toBeGreaterThanOrEqual(Math.ceil(p.loadMs / 100));
    }
    expect(p.requests).toBeGreaterThan(100);
    expect(p.reloads).toHaveLength(2);
    for (const m of p.reloads) expect(m.endMs).toBeGreaterThanOrEqual(m.startMs);
    // forkover, in both forms: every reload done, no request failed.
    if (p.tool.startsWith('forkover')) {
      expect([what, p.failed, p.failures]).toEqual([what, 0, { refused: 0, reset: 0, timeout: 0, non2xx: 0, other: 0 }]);
      expect(p.reloads.map((m) => m.code)).toEqual([0, 0]);
      // A reload happened: more than one PID answered.
      expect(p.pids.length).toBeGreaterThan(1);
    }
    // Every process the run started or heard from is gone (killed by PID; PM2 through its own delete).
    expect([what, p.pids.filter(alive)]).toEqual([what, []]);
  }

  const svgText = fs.readFileSync(path.join(out, 'timeline.svg'), 'utf8');
  const svg = parseXml(svgText);
  expect(svg.name).toBe('svg');
  expect(svg.attrs.xmlns).toBe('http://www.w3.org/2000/svg');
  expect(svg.attrs.viewBox).toMatch(/^0 0 \d+(\.\d+)? \d+(\.\d+)?$/);
  expect(Number(svg.attrs.width)).toBeGreaterThan(0);
  expect(Number(svg.attrs.height)).toBeGreaterThan(0);
  const nodes = all(svg);
  // Plain SVG, as GitHub's image view needs: nothing scripted, styled from outside or fetched.
  const allowed = new Set(['svg', 'g', 'rect', 'line', 'path', 'text', 'tspan']);
  expect(nodes.map((n) => n.name).filter((n) => !allowed.has(n))).toEqual([]);
  expect(nodes.flatMap((n) => Object.keys(n.attrs)).filter((a) => /^on|href$|^style$/i.test(a))).toEqual([]);
  expect(svgText).not.toMatch(/url\(|@import|<script|<style/i);

  const drawn = nodes.filter((n) => classes(n).includes('panel'));
  expect(drawn).toHaveLength(panels.length);
  for (const p of panels) {
    const what = `${p.label}, ${p.mode}`;
    const g = drawn.find((n) => classes(n).includes(p.tool) && classes(n).includes(p.keepAlive ? 'keep-alive' : 'new-connection'));
    if (!g) throw new Error(`no panel for ${what}`);
    const inside = all(g);
    const has = (cls: string) => inside.filter((n) => classes(n).includes(cls));
    expect(textOf(has('title')[0]!)).toBe(`${p.label}: ${p.mode}`);
    expect(textOf(has('summary')[0]!)).toContain(`${thousands(p.requests)} requests`);
    expect(textOf(has('summary')[0]!)).toContain(`${thousands(p.failed)} failed`);
    // Axes: a time axis from 0 s past the end of the load, a request axis from 0.
    const xTicks = has('x-tick').map((t) => parseFloat(textOf(t)));
    expect(xTicks[0]).toBe(0);
    expect(Math.max(...xTicks)).toBeGreaterThanOrEqual(p.loadMs / 1000);
    expect(has('y-tick').map((t) => textOf(t))[0]).toBe('0');
    expect(has('y-tick').length).toBeGreaterThanOrEqual(2);
    // The answered requests: a closed step path with two points per bucket.
    const d = has('answered')[0]!.attrs.d!;
    expect(d).toMatch(/^M[\d. ]+(L[\d. ]+)+Z$/);
    expect(d.split('L').length - 1).toBe(2 * p.buckets.completed.length + 1);
    expect(has('reload')).toHaveLength(p.reloads.length);
    expect(has('failed-strip')).toHaveLength(1);
    // One mark per kind per bucket with a failure, each at least 3 units wide and tall
    // enough to see: a single failure is as visible as a hundred.
    const marks = has('failed');
    const expected = KINDS.flatMap((k) => p.buckets.failed[k].filter((n) => n > 0).map(() => k));
    expect([what, marks.map((m) => classes(m)[1]).sort()]).toEqual([what, expected.sort()]);
    for (const m of marks) expect(Number(m.attrs.width)).toBeGreaterThanOrEqual(3);
    const buckets = new Set(marks.map((m) => m.attrs.x));
    for (const x of buckets) {
      const column = marks.filter((m) => m.attrs.x === x);
      expect(sum(column.map((m) => Number(m.attrs.height)))).toBeCloseTo(16, 1);
    }
    expect(has('no-failures')).toHaveLength(p.failed === 0 ? 1 : 0);
  }

  // A PNG beside it when rsvg-convert is there (the README's picture is the SVG).
  const png = path.join(out, 'timeline.png');
  if (/wrote .*timeline\.png/.test(r.stderr)) {
    const head = fs.readFileSync(png).subarray(0, 24);
    expect(head.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
    expect(head.readUInt32BE(16)).toBe(2 * Number(svg.attrs.width));
  } else {
    expect(r.stderr).toMatch(/no PNG: rsvg-convert is not installed/);
  }
}, 300_000);
