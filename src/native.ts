/**
 * Where forkover's native addons load from (binding.gyp: forkover_notify, the sd_notify
 * transport; forkover_init, the PID 1 reaper), in this order:
 *   1. prebuilds/<platform>-<arch>/<name>.node, shipped in the package (linux-x64 and
 *      linux-arm64, scripts/prebuild.mjs), so a user without a compiler has them;
 *   2. build/Release/<name>.node, built by `npm install` (scripts/build-native.mjs) or
 *      `npm rebuild forkover` where no prebuilt fits or loads (another platform, a libc
 *      the prebuilt does not link against);
 *   3. neither: the caller's fallback (systemd-notify; no PID 1 mode), with every reason.
 *
 * Must not: import anything of forkover's but root.ts, or load anything at import.
 */
import { createRequire } from 'node:module';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from './root.js';

export type AddonName = 'forkover_notify' | 'forkover_init';

/** The files tried for `name`, in order. */
export function addonCandidates(name: AddonName, root: string = packageRoot()): string[] {
  return [path.join(root, 'prebuilds', `${process.platform}-${process.arch}`, `${name}.node`), path.join(root, 'build', 'Release', `${name}.node`)];
}

/**
 * Load addon `name` from the first candidate that loads; `file` says which. Otherwise
 * `error` gives each candidate's reason (a missing file is "not built"), and the fix.
 */
export function loadAddon<T>(name: AddonName, root?: string): { mod: T; file: string } | { error: string } {
  const require = createRequire(import.meta.url);
  const reasons: string[] = [];
  for (const file of addonCandidates(name, root)) {
    if (!fs.existsSync(file)) {
      reasons.push(`${file}: not there`);
      continue;
    }
    try {
      return { mod: require(file) as T, file };
    } catch (err) {
      reasons.push(`${file}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  return { error: `${reasons.join('; ')}; rebuild it with "npm rebuild forkover" (needs g++, make, python3 and Node's headers)` };
}
