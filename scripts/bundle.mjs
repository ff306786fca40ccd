#!/usr/bin/env node
// Second build step (after tsc): bundle the library entry, dist/index.js, into one ESM
// module, with the code only some processes need (the handoff, workers, systemd
// supervision, privileges, the launcher) split into chunks that load when first imported.
//
// Why: every start and every handoff loads the app's import graph from scratch, and
// resolving and linking ~15 small ESM files costs more than the code in them. Measured
// on the 2-CPU bench machine: `import 'forkover'` took 25–32 ms as separate files and
// 17–18 ms bundled (12 alternating runs each). One file with no chunks was slower
// (23–32 ms): it parses code that most processes never run. Dependencies stay external (a user's commander `Command` must be the
// class forkover checks against), and so do Node's built-ins.
//
// Everything else in dist/ (cli.js, init-scripts/, the .d.ts files) stays as tsc wrote
// it: the CLI is not on any start-up path, and the types describe the same API.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist');
const entry = path.join(dist, 'index.js');
if (!fs.existsSync(entry)) {
  process.stderr.write(`bundle: ${entry} is missing; run tsc first (npm run build does both)\n`);
  process.exit(1);
}
// Chunk names carry a content hash: clear the last build's so none are left behind.
fs.rmSync(path.join(dist, 'chunks'), { recursive: true, force: true });
await build({
  // start.js, forkover start's preload, shares the chunks: one copy of each module per process.
  entryPoints: { index: entry, start: path.join(dist, 'start.js') },
  outdir: dist,
  allowOverwrite: true,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  chunkNames: 'chunks/[name]-[hash]',
  sourcemap: true,
  logLevel: 'warning',
});
