// Issue 7: the README's CLI reference, flags table and troubleshooting table cannot
// drift from the code. The options come from the real `--help` of bin/forkover.js (each
// subcommand) and of an app using addForkoverOptions (examples/hello.js); the error
// codes from the ForkoverErrorCode union in src/errors.ts.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI, HELLO, ROOT, cleanup, node } from '../helpers/util.js';

afterEach(cleanup);

const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

/** The text of a README section: from its heading to the next heading of that level or above. */
function section(heading: string): string {
  const level = /^#+/.exec(heading)![0].length;
  const start = README.indexOf(`${heading}\n`);
  if (start < 0) throw new Error(`README.md has no section "${heading}"`);
  const rest = README.slice(start + heading.length + 1);
  const next = new RegExp(`^#{1,${level}} `, 'm').exec(rest);
  return next ? rest.slice(0, next.index) : rest;
}

/** Table rows whose first cell is `code`: first cell → second cell. */
function rows(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\| `([^`]+)` \| ([^|]*?) \|/.exec(line);
    if (m) out.set(m[1]!, m[2]!);
  }
  return out;
}

interface HelpOption {
  flags: string;
  default: string | undefined;
}

/** Options listed by commander's help (without -h, --help), with their defaults. */
function helpOptions(help: string): HelpOption[] {
  const block = /\nOptions:\n([\s\S]*?)(?:\n\n|\nCommands:|$)/.exec(help)?.[1] ?? '';
  const entries: string[] = [];
  for (const line of block.split('\n')) {
    if (/^ {2}-/.test(line)) entries.push(line.trim());
    else if (line.trim() !== '' && entries.length > 0) entries[entries.length - 1] += ` ${line.trim()}`;
  }
  return entries
    .map((e) => {
      const flags = /^(-\w, )?--[\w-]+( <[\w-]+>)?/.exec(e)![0];
      return { flags, default: /\(default: ([^)]+)\)$/.exec(e)?.[1] };
    })
    .filter((o) => o.flags !== '-h, --help');
}

async function help(script: string, args: string[]): Promise<string> {
  const r = await node(script, [...args, '--help']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r.stdout;
}

test('every subcommand of `forkover --help` has a README section, and no other is documented', async () => {
  const top = await help(CLI, []);
  const commands = [...(/\nCommands:\n([\s\S]*)$/.exec(top)?.[1] ?? '').matchAll(/^ {2}(\w[\w-]*)/gm)].map((m) => m[1]!).filter((c) => c !== 'help');
  expect(commands.length).toBeGreaterThanOrEqual(3);
  const documented = [...section('## CLI reference').matchAll(/^### `forkover (\w[\w-]*)`/gm)].map((m) => m[1]);
  expect(documented.sort()).toEqual([...commands].sort());
});

const SUBCOMMANDS = ['start', 'status', 'stop', 'reload', 'init-script'];
const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const unhtml = (text: string): string => text.replaceAll('&lt;', '<').replaceAll('&gt;', '>');

test.each(SUBCOMMANDS)('README "forkover %s" lists exactly the options of its --help, with the same defaults', async (command) => {
  const options = helpOptions(await help(CLI, [command]));
  expect(options.length).toBeGreaterThan(0);
  const table = rows(section(`### \`forkover ${command}\``));
  expect([...table.keys()].sort()).toEqual(options.map((o) => o.flags).sort());
  for (const o of options) {
    const cell = table.get(o.flags)!;
    if (o.default !== undefined) expect(`${o.flags}: ${unhtml(cell)}`).toMatch(new RegExp(`^${escape(o.flags)}: ${escape(o.default)}( |$)`));
    // `start` needs -p only with --daemon, as the library's flags do.
    else if (o.flags.startsWith('-p,')) expect(cell).toBe(command === 'start' ? 'none' : 'required');
  }
});

test("README \"Flags\" lists exactly the flags addForkoverOptions() adds, with --help's numeric defaults", async () => {
  // examples/hello.js adds --port and --host of its own; the rest are forkover's.
  const options = helpOptions(await help(HELLO, [])).filter((o) => o.flags !== '--port <n>' && o.flags !== '--host <h>');
  expect(options.map((o) => o.flags)).toContain('--daemon');
  const table = rows(section('## Flags'));
  expect([...table.keys()].sort()).toEqual(options.map((o) => o.flags).sort());
  for (const o of options) {
    if (o.default !== undefined && /^\d+$/.test(o.default)) expect(`${o.flags}: ${table.get(o.flags)}`).toMatch(new RegExp(`^${o.flags}: ${o.default} `));
  }
});

test('README "Troubleshooting" explains every ForkoverErrorCode, and only those', () => {
  const source = fs.readFileSync(path.join(ROOT, 'src/errors.ts'), 'utf8');
  const union = /export type ForkoverErrorCode =([\s\S]*?);\n/.exec(source.replace(/\/\/.*$/gm, ''))?.[1] ?? '';
  const codes = [...union.matchAll(/'([A-Z_]+)'/g)].map((m) => m[1]!);
  expect(codes).toContain('UNSUPPORTED_PLATFORM');
  const table = rows(section('## Troubleshooting'));
  expect([...table.keys()].sort()).toEqual([...codes].sort());
  for (const [code, cause] of table) expect(`${code}: ${cause.length > 20}`).toBe(`${code}: true`);
});

test('README signals table names every signal the daemon handles (src/signals.ts)', () => {
  const source = fs.readFileSync(path.join(ROOT, 'src/signals.ts'), 'utf8');
  const handled = [...source.matchAll(/'SIG([A-Z0-9]+)'/g)].map((m) => m[1]!);
  const documented = section('## Signals');
  for (const sig of new Set(handled)) expect(`${sig}: ${documented.includes(`\`${sig}\``)}`).toBe(`${sig}: true`);
});

describe('examples/', () => {
  const files = fs.readdirSync(path.join(ROOT, 'examples')).filter((f) => f.endsWith('.js'));
  let forkoverFlags: string[] = [];
  beforeAll(async () => {
    forkoverFlags = helpOptions(await help(HELLO, [])).map((o) => o.flags).filter((f) => f !== '--port <n>' && f !== '--host <h>');
  });

  test('there is one example per server type the README lists', () => {
    for (const f of ['express.js', 'fastify.js', 'koa.js', 'https.js', 'http2.js', 'tcp-echo.js', 'unix-socket.js', 'two-listeners.js']) {
      expect(files).toContain(f);
      expect(section('## Server types')).toContain(`(examples/${f})`);
    }
  });

  test.each(files)('%s takes every forkover flag and an address, and ends with a "// Try:" block', async (file) => {
    const script = path.join(ROOT, 'examples', file);
    const flags = helpOptions(await help(script, [])).map((o) => o.flags);
    expect(forkoverFlags).toContain('--daemon');
    for (const f of forkoverFlags) expect(`${file}: ${flags.includes(f)} ${f}`).toBe(`${file}: true ${f}`);
    expect(flags.includes('--port <n>') || flags.includes('--socket <path>')).toBe(true);
    const source = fs.readFileSync(script, 'utf8');
    expect(source).toMatch(/\n\/\/ Try:\n(\/\/ .*\n)+$/);
  });
});
