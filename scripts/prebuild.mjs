// npm's prepack step (`npm pack`, `npm publish`): compile forkover's native addons
// (binding.gyp: native/notify.c, native/init.c) for every platform the package ships
// prebuilt, into prebuilds/<platform>-<arch>/<name>.node, so that a user without a
// compiler still gets the native sd_notify transport and the PID 1 reaper
// (src/native.ts loads prebuilt, then a local build, then falls back; README "Native
// addons").
//
// They use N-API only, so each needs node_api.h and nothing of Node's at link time (the
// napi_* symbols resolve against the node binary that loads it): one file per platform
// loads on Node 20, 22 and 24. linux-x64 is built with the host's cc, linux-arm64 with
// the cross compiler aarch64-linux-gnu-gcc (Debian: gcc-aarch64-linux-gnu). A target
// that cannot be built fails the pack, naming the compiler to install: a package
// published without it would silently make arm64 users compile (or fall back).
// Each file is written to a temp name and renamed, so a concurrent pack never ships half a file.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Oldest N-API version the addons need: 8 is in every Node this package supports (>= 20.19). */
const NAPI_VERSION = 8;
const ADDONS = [
  { name: 'forkover_notify', source: 'native/notify.c' },
  { name: 'forkover_init', source: 'native/init.c' },
];
const TARGETS = [
  { dir: 'linux-x64', cc: process.arch === 'x64' ? 'cc' : 'x86_64-linux-gnu-gcc', pkg: 'gcc (or gcc-x86-64-linux-gnu)' },
  { dir: 'linux-arm64', cc: process.arch === 'arm64' ? 'cc' : 'aarch64-linux-gnu-gcc', pkg: 'gcc-aarch64-linux-gnu' },
];

/** A directory holding node_api.h: the running Node's own headers, node-gyp's download, or the system's. */
function nodeHeaders() {
  const candidates = [
    path.join(path.dirname(process.execPath), '..', 'include', 'node'),
    path.join(process.env.HOME ?? '', '.cache', 'node-gyp', process.versions.node, 'include', 'node'),
    '/usr/include/node',
    '/usr/local/include/node',
  ];
  const dir = candidates.find((d) => fs.existsSync(path.join(d, 'node_api.h')));
  if (dir === undefined) fail(`no node_api.h in ${candidates.join(', ')}; install Node's headers (node-gyp install)`);
  return dir;
}

function fail(message) {
  process.stderr.write(`prebuild: ${message}\n`);
  process.exit(1);
}

if (process.platform !== 'linux') fail(`the prebuilt addons are cross-compiled on Linux; this is ${process.platform}`);
const headers = nodeHeaders();
for (const t of TARGETS) {
  const out = path.join(root, 'prebuilds', t.dir);
  fs.mkdirSync(out, { recursive: true });
  for (const a of ADDONS) {
    const file = path.join(out, `${a.name}.node`);
    const tmp = `${file}.${process.pid}.tmp`;
    const r = spawnSync(
      t.cc,
      ['-shared', '-fPIC', '-s', '-O2', '-Wall', '-Wextra', '-Werror', `-I${headers}`, `-DNAPI_VERSION=${NAPI_VERSION}`, `-DNODE_GYP_MODULE_NAME=${a.name}`, '-DBUILDING_NODE_EXTENSION', path.join(root, a.source), '-o', tmp],
      { encoding: 'utf8' },
    );
    if (r.error || r.status !== 0) {
      fs.rmSync(tmp, { force: true });
      fail(`cannot build ${t.dir}/${a.name}.node with ${t.cc}: ${r.error ? r.error.message : r.stderr.trim()}${r.error ? `; install ${t.pkg}` : ''}`);
    }
    fs.renameSync(tmp, file);
  }
}
