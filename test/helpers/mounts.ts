/** Small filesystems for tests of a full or read-only disk: real tmpfs mounts (the tests run as root). */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';

const mounts: string[] = [];

/** Mount a tmpfs with `options` (e.g. "size=64k") on `dir`; must work: a test that cannot mount fails here. */
export function mountTmpfs(dir: string, options: string): void {
  fs.mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir]);
  mounts.push(dir);
}

/**
 * Unmount every mount of this test, lazily, so that a process the test failed to stop
 * cannot keep one busy. Call it before cleanup(), which removes the directories they sit in.
 */
export function unmountAll(): void {
  for (const m of mounts.splice(0).reverse()) execFileSync('umount', ['-l', m]);
}
