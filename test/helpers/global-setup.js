// Fails the whole run, loudly, when the preconditions of the integration tests are not met:
//  - a subreaper above us: PID 1 on these machines does not reap orphans, and a daemon
//    whose launcher exited would stay a zombie after it exits (run the tests through
//    `npm test`, which starts Jest under `tini -s`);
//  - a built dist/ (npm test builds it first);
//  - one Node: the `node` on PATH (what the tests' commands such as `forkover start --
//    node app.js` run) is the Node that runs Jest (process.execPath, what the helpers
//    spawn). .ci/run's matrix runs each line with its directory first on PATH.
import { readFileSync, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

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
  let onPath;
  try {
    onPath = execFileSync('node', ['-p', 'process.version'], { encoding: 'utf8' }).trim();
  } catch (err) {
    onPath = `none (${err.message})`;
  }
  if (onPath !== process.version) {
    throw new Error(`the node on PATH is ${onPath}, but Jest runs on ${process.version} (${process.execPath}): put that Node's directory first on PATH, as .ci/run does for each Node line`);
  }
  if (!existsSync(new URL('../../dist/index.js', import.meta.url))) {
    throw new Error('dist/ is missing: run "npm run build" (npm test does it first)');
  }
}
