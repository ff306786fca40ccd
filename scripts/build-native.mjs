// npm's install step for forkover's native code (binding.gyp). node-gyp's own output
// (some 30 lines) is kept in build/native-build.log, not printed: a user sees one line,
// and only when the build failed, with what it costs and how to retry. Never fails the
// install: without the addon, systemd notify mode uses /usr/bin/systemd-notify.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
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
    `forkover: the native sd_notify transport was not built (${why}); systemd notify mode will use /usr/bin/systemd-notify instead. ` +
      `To build it, install g++, make and python3, then run "npm rebuild forkover" (full output: ${logfile}).\n`,
  );
}
