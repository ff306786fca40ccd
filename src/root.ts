/**
 * forkover's own directory, for the files it ships beside its code (the native addon,
 * the standby preload).
 *
 * Must not: import anything of forkover's.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The nearest directory up from this module that holds binding.gyp (shipped in the
 * package). This code runs from src/ under the tests and from a bundle chunk in dist/
 * (scripts/bundle.mjs), so no fixed relative path fits both.
 */
export function packageRoot(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (let dir = here; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'binding.gyp'))) return dir;
    if (path.dirname(dir) === dir) return path.resolve(here, '..');
  }
}
