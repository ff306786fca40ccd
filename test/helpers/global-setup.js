// Fails the whole run, loudly, when the preconditions of the integration tests are not met:
//  - a subreaper above us: PID 1 on these machines does not reap orphans, and a daemon
//    whose launcher exited would stay a zombie after it exits (run the tests through
//    `npm test`, which starts Jest under `tini -s`);
//  - a built dist/ (npm test builds it first).
import { readFileSync, existsSync } from 'node:fs';

function stat(pid) {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const close = text.lastIndexOf(')');
  return { comm: text.slice(text.indexOf('(') + 1, close), ppid: Number(text.slice(close + 2).split(' ')[1]) };
}

export default function globalSetup() {
  const reapers = new Set(['tini', 'systemd', 'init', 'dumb-init']);
  let pid = process.pid;
  let found = reapers.has(stat(1).comm);
  while (!found && pid > 1) {
    const s = stat(pid);
    if (s.comm === 'tini') found = true;
    pid = s.ppid;
  }
  if (!found) {
    throw new Error('the tests must run under a subreaper: run "npm test" (it uses "tini -s --"; apt-get install tini)');
  }
  if (!existsSync(new URL('../../dist/index.js', import.meta.url))) {
    throw new Error('dist/ is missing: run "npm run build" (npm test does it first)');
  }
}
