#!/usr/bin/env node
// Second build step (after tsc): bundle the library entry, dist/index.js, and forkover
// start's preload, dist/start.js, into ESM modules that share one chunk, dist/chunks/core-*.js,
// with the code only some processes need (workers, systemd supervision, privileges, PID 1
// mode, --health) in chunks of their own that load when first imported.
//
// Why: every start and every cold handoff loads the app's import graph from scratch in a
// new process, and Node's ESM loader pays for each module it resolves, reads and links
// more than for the code in it. Measured on the 2-CPU bench machine (Node 20, median of
// 15–21 fresh processes, after commander was loaded): `import 'forkover'` took 7.7 ms with
// esbuild's code splitting, which cut the start path into 10 chunks (one per set of entry
// points that reach a module), and 5.9 ms with the start path in one chunk. Fifteen
// empty modules cost 3.2 ms imported side by side, 5.4 ms as a chain. Rollup is used
// because it can be told which chunk a module goes to (manualChunks); esbuild cannot.
//
// Which modules are in core: every module the entries import statically. So the source
// decides: a static import puts a module on every process's start path, a dynamic
// import() keeps it out until it is called for.
//
// Dependencies stay external (a user's commander `Command` must be the class forkover
// checks against), and so do Node's built-ins, with one exception: signal-exit goes into
// the core chunk, because every generation arms it before it claims the pidfile, and an
// import() of the package there cost 3.4 ms of each start (src/signals.ts). Its copies
// share one emitter through a global (Symbol.for('signal-exit emitter')), so the bundled
// one and an app's own still run every handler once; its ISC licence ends the chunk.
//
// The chunks are shipped without tsc's comments (the .d.ts files keep the doc comments,
// and the source maps still lead to src/): a process parses the whole start chunk as it
// loads it, and the comments were a third of its bytes. Stripped, a launcher reached its
// spawn, and a daemon its first line to the launcher, 0.9 to 1.2 ms sooner (25
// interleaved starts each against the build before, timed inside the processes; README,
// issue 13, 2026-12-07). TypeScript's printer does it, already a dependency of the build:
// it re-indents but renames nothing, so stack traces keep forkover's function names.
//
// Everything else in dist/ (cli.js, init-scripts/, the .d.ts files) stays as tsc wrote
// it: the CLI is not on any start-up path, and the types describe the same API.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { rollup } from 'rollup';
import ts from 'typescript';

const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist');
const entries = { index: path.join(dist, 'index.js'), start: path.join(dist, 'start.js') };
for (const file of Object.values(entries)) {
  if (!fs.existsSync(file)) {
    process.stderr.write(`bundle: ${file} is missing; run tsc first (npm run build does both)\n`);
    process.exit(1);
  }
}

/** A file of tsc's output, with the source map tsc wrote beside it, so the bundle's maps lead to src/. */
function loadWithMap(id) {
  if (!id.startsWith(dist) || !id.endsWith('.js')) return null;
  const code = fs.readFileSync(id, 'utf8');
  const mapFile = `${id}.map`;
  return { code, map: fs.existsSync(mapFile) ? fs.readFileSync(mapFile, 'utf8') : null };
}

/** Bundled dependencies: the ES module entry each resolves to, as Node would resolve it from here. */
const bundled = { 'signal-exit': fileURLToPath(import.meta.resolve('signal-exit')) };
/** The directory of package `name`: the nearest one above its entry whose package.json names it. */
function packageDir(name) {
  for (let dir = path.dirname(bundled[name]); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file) && JSON.parse(fs.readFileSync(file, 'utf8')).name === name) return dir;
  }
  throw new Error(`bundle: cannot find the package directory of ${name} above ${bundled[name]}`);
}
const signalExitDir = packageDir('signal-exit');
const signalExitLicence = fs.readFileSync(path.join(signalExitDir, 'LICENSE.txt'), 'utf8').trim();
const signalExitVersion = JSON.parse(fs.readFileSync(path.join(signalExitDir, 'package.json'), 'utf8')).version;

/**
 * A chunk without comments; its source map chained to Rollup's. A chunk that holds a
 * bundled dependency ends with that dependency's licence (at the end, so that no line
 * of the map moves).
 */
function stripComments(code, chunk) {
  const out = ts.transpileModule(code, {
    fileName: chunk.fileName,
    // verbatimModuleSyntax: every import stays as Rollup wrote it, none is judged unused.
    compilerOptions: { removeComments: true, sourceMap: true, target: ts.ScriptTarget.ESNext, module: ts.ModuleKind.ESNext, verbatimModuleSyntax: true },
  });
  const map = JSON.parse(out.sourceMapText);
  // The printer's map points into `code`; Rollup chains it onto the chunk's own map.
  const licence = chunk.moduleIds.some((id) => id.startsWith(signalExitDir + path.sep))
    ? `/*! signal-exit ${signalExitVersion}, bundled into this file by forkover's build:\n${signalExitLicence}\n*/\n`
    : '';
  return { code: out.outputText.replace(/\n\/\/# sourceMappingURL=.*\n?$/, '\n') + licence, map };
}

const bundle = await rollup({
  input: entries,
  external: (id) => !id.startsWith('.') && !path.isAbsolute(id) && !(id in bundled), // node:*, commander, proper-lockfile
  plugins: [
    { name: 'tsc-source-maps', load: loadWithMap },
    { name: 'bundled-dependencies', resolveId: (id) => bundled[id] ?? null },
    { name: 'strip-comments', renderChunk: stripComments },
  ],
  // An external imported only for its side effects is dropped: Node's built-ins and these
  // packages have none that forkover relies on, and a chunk that uses one imports it.
  treeshake: { moduleSideEffects: 'no-external' },
  // Modules that import each other (daemon.ts and drain.ts) are fine within one chunk.
  onwarn(warning, warn) {
    if (warning.code !== 'CIRCULAR_DEPENDENCY') warn(warning);
  },
});

let core;
/** Every module the entries reach by static imports, the entries aside. */
function staticallyReached(getModuleInfo) {
  const reached = new Set();
  const walk = (id) => {
    if (reached.has(id)) return;
    reached.add(id);
    for (const dep of getModuleInfo(id)?.importedIds ?? []) if (path.isAbsolute(dep)) walk(dep);
  };
  Object.values(entries).forEach(walk);
  Object.values(entries).forEach((e) => reached.delete(e));
  return reached;
}

// Chunk names carry a content hash: clear the last build's so none are left behind. Rollup
// has read every input by now, so writing over dist/index.js is safe.
fs.rmSync(path.join(dist, 'chunks'), { recursive: true, force: true });
await bundle.write({
  dir: dist,
  format: 'es',
  entryFileNames: '[name].js',
  chunkFileNames: 'chunks/[name]-[hash].js',
  sourcemap: true,
  // Rollup would repeat the core chunk's imports of built-ins in each entry, to keep their
  // order of evaluation; they have no side effects to order.
  hoistTransitiveImports: false,
  manualChunks(id, { getModuleInfo }) {
    core ??= staticallyReached(getModuleInfo);
    return core.has(id) ? 'core' : undefined;
  },
});
await bundle.close();
