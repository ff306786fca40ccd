/**
 * OpenRC's openrc-run outside an OpenRC boot (R7.x): it needs /run/openrc/softlevel, and
 * a service's state (/run/openrc/<dir>/<name>) outlives the test that made it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type RunResult, run } from './util.js';

export const OPENRC_RUN = '/sbin/openrc-run';
const SOFTLEVEL = '/run/openrc/softlevel';

/**
 * Register the suite's beforeAll/afterAll: fail loudly without openrc-run, create the
 * softlevel file if missing, and remove it afterwards only if this suite created it.
 */
export function useOpenrc(): void {
  let created = false;
  beforeAll(() => {
    if (!fs.existsSync(OPENRC_RUN)) throw new Error(`${OPENRC_RUN} is missing: run "bash scripts/test-deps.sh" (Debian package openrc)`);
    if (!fs.existsSync(SOFTLEVEL)) {
      fs.mkdirSync(path.dirname(SOFTLEVEL), { recursive: true });
      fs.writeFileSync(SOFTLEVEL, 'default\n');
      created = true;
    }
  });
  afterAll(() => {
    if (created) fs.rmSync(SOFTLEVEL, { force: true });
  });
}

/** Run `openrc-run <script> <action>` as an init system would: cwd /, a plain PATH, C locale. */
export function openrc(script: string, action: string): Promise<RunResult> {
  return run(OPENRC_RUN, [script, action], { cwd: '/', env: { LANG: 'C', PATH: '/sbin:/usr/sbin:/bin:/usr/bin' }, timeoutMs: 60_000 });
}

/** Forget a service in OpenRC's state: `zap`, then its files under /run/openrc/*\/<name>. */
export async function forgetService(script: string): Promise<void> {
  const name = path.basename(script);
  if (fs.existsSync(script)) await run(OPENRC_RUN, [script, 'zap'], { env: { LANG: 'C' } });
  for (const d of fs.existsSync('/run/openrc') ? fs.readdirSync('/run/openrc', { withFileTypes: true }) : []) {
    if (d.isDirectory()) fs.rmSync(path.join('/run/openrc', d.name, name), { recursive: true, force: true });
  }
}
