// npm's install step for forkover's native code (binding.gyp). The package ships the
// addons prebuilt for linux-x64 and linux-arm64 (prebuilds/, scripts/prebuild.mjs): when
// both of this platform's load, nothing is compiled and nothing printed, and no compiler
// is needed. Otherwise (another platform, a libc they do not link against, a checkout
// without prebuilds/) node-gyp builds them into build/Release; its own output (some 30
// lines) is kept in build/native-build.log, not printed: a user sees one line, and only
// when the build failed, with what it costs and how to retry. Never fails the install:
// without the addons, systemd notify mode uses /usr/bin/systemd-notify and PID 1 mode is
// unavailable (README "Native addons"). src/native.ts loads them in the same order.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const prebuilt = ['forkover_notify', 'forkover_init'].map((name) => path.join(root, 'prebuilds', `${process.platform}-${process.arch}`, `${name}.node`));
const loads = (file) => {
  try {
    createRequire(import.meta.url)(file);
    return true;
  } catch {
    return false;
  }
};
if (process.env.FORKOVER_BUILD_NATIVE !== '1' && prebuilt.every(loads)) process.exit(0);
const r = spawnSync('node-gyp', ['rebuild'], { cwd: root, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
const output = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? `\n${r.error.message}\n` : ''}`;
const logfile = path.join(root, 'build', 'native-build.log');
try {
  fs.mkdirSync(path.dirname(logfile), { recursive: true });
  fs.writeFileSync(logfile, output);
} catch {
  // a read-only package directory: the message below still says what happened
}
if (r.status !== 0) {
  const why = r.error ? r.error.message : (output.trim().split('\n').filter((l) => /error|not found|ERR!/i.test(l)).slice(-3).join(' | ') || `node-gyp exited ${r.status}`);
  process.stderr.write(
    `forkover: no prebuilt native addon loads on ${process.platform}-${process.arch} and building them failed (${why}); ` +
      `systemd notify mode will use /usr/bin/systemd-notify instead, and PID 1 mode is unavailable. ` +
      `To build them, install g++, make and python3, then run "npm rebuild forkover" (full output: ${logfile}).\n`,
  );
}
