#!/usr/bin/env node
// The example files in init-scripts/: `forkover init-script <kind>` output for
// examples/hello.js installed globally with npm (/usr/local/lib/node_modules/forkover).
// They are rendered by the same functions the CLI runs (buildSpec, renderInitScript,
// formatRendered, from dist/), with the installed CLI path instead of this checkout's.
//   node scripts/init-scripts.mjs           write them (after `npm run build`)
//   node scripts/init-scripts.mjs --check   exit 1, naming each file that differs
// test/unit/init-script.test.ts runs --check.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { INIT_SCRIPT_KINDS, buildSpec, formatRendered, renderInitScript } from '../dist/init-scripts/index.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DIR = path.join(ROOT, 'init-scripts');
const PREFIX = '/usr/local/lib/node_modules/forkover';

/** The flags the examples were generated with, as a user would type them. */
export const EXAMPLE_ARGS = { name: 'hello', logfile: '/var/log/hello/hello.log' };
export const EXAMPLE_COMMAND = ['/usr/bin/node', `${PREFIX}/examples/hello.js`, '--port', '8080'];
export const EXAMPLE_FORKOVER_BIN = `${PREFIX}/bin/forkover.js`;

/** Where each kind's files go (relative to init-scripts/) and their mode. */
const LAYOUT = {
  systemd: { dir: 'systemd' },
  'systemd-notify': { dir: 'systemd-notify' },
  'systemd-socket': { dir: 'systemd-socket' },
  sysv: { dir: 'sysv', mode: 0o755 },
  openrc: { dir: 'openrc', mode: 0o755 },
  logrotate: { dir: '.', rename: (base) => `${base}.logrotate` },
};

/**
 * [{ file, content, mode }] for every kind: each rendered file as the CLI prints it
 * (a kind with several files, systemd-socket, prints each after a "# ==> name <==" line).
 */
export async function expectedFiles() {
  const out = [];
  for (const kind of INIT_SCRIPT_KINDS) {
    const args = { ...EXAMPLE_ARGS, ...(kind === 'systemd-socket' ? { listen: '8080' } : {}) };
    const spec = buildSpec(kind, args, EXAMPLE_COMMAND, EXAMPLE_FORKOVER_BIN);
    const { dir, mode = 0o644, rename = (b) => b } = LAYOUT[kind];
    for (const f of await renderInitScript(spec)) {
      out.push({ file: path.posix.join(dir, rename(path.posix.basename(f.filename))), content: formatRendered([f]), mode });
    }
  }
  return out;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const check = process.argv.includes('--check');
  const stale = [];
  for (const { file, content, mode } of await expectedFiles()) {
    const target = path.join(DIR, file);
    if (check) {
      let actual;
      try {
        actual = fs.readFileSync(target, 'utf8');
      } catch {
        actual = undefined;
      }
      if (actual !== content) stale.push(`init-scripts/${file}${actual === undefined ? ' (missing)' : ''}`);
      else if ((fs.statSync(target).mode & 0o777) !== mode) stale.push(`init-scripts/${file} (mode ${(fs.statSync(target).mode & 0o777).toString(8)}, expected ${mode.toString(8)})`);
    } else {
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.writeFileSync(target, content);
      fs.chmodSync(target, mode);
    }
  }
  if (stale.length > 0) {
    process.stderr.write(`these files differ from \`forkover init-script\` output:\n  ${stale.join('\n  ')}\nregenerate them: npm run build && node scripts/init-scripts.mjs\n`);
    process.exitCode = 1;
  }
}
