#!/usr/bin/env node
// The main job, end to end: daemonize examples/hello.js in a temp directory, drive a
// bounded loopback load (keep-alive and new-connection clients at once), reload it
// several times with `forkover reload`, print what happened, stop it and clean up.
// Exits 1 if any request failed or any step did not do what it should.
//   node scripts/demo.mjs [--reloads N] [--seconds S]
import { execFile } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startLoad } from '../bench/lib/client.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const hello = path.join(root, 'examples/hello.js');
const cli = path.join(root, 'bin/forkover.js');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const reloads = arg('--reloads', 5);
const seconds = arg('--seconds', 8);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkover-demo-'));
const pidfile = path.join(dir, 'hello.pid');
const logfile = path.join(dir, 'hello.log');
// Asynchronous on purpose: the load clients run in this process and must keep going
// while a reload is in progress.
const run = (file, args) =>
  new Promise((resolve) => {
    execFile(file, args, { encoding: 'utf8', cwd: dir, timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: `${stdout}${stderr}`.trim() });
    });
  });
const say = (s) => process.stdout.write(`${s}\n`);
/** On a failure, the daemon's own account: the last lines of its log. */
const sayLog = () => {
  const lines = fs.existsSync(logfile) ? fs.readFileSync(logfile, 'utf8').trimEnd().split('\n').slice(-20) : ['(no log was written)'];
  say(`\n$ tail -n 20 ${logfile}\n${lines.join('\n')}`);
};
let ok = true;

say(`$ node examples/hello.js --port 0 --host 127.0.0.1 --daemon -p ${pidfile} -l ${logfile}`);
const started = await run(process.execPath, [hello, '--port', '0', '--host', '127.0.0.1', '--daemon', '-p', pidfile, '-l', logfile]);
say(started.out);
if (started.code !== 0) {
  say(`the launcher exited ${started.code}`);
  sayLog();
  fs.rmSync(dir, { recursive: true, force: true });
  process.exit(1);
}
const port = Number(/listening on [^\s]*:(\d+)/.exec(started.out)?.[1]);
try {
  say(`\n$ forkover status -p ${pidfile}`);
  say((await run(process.execPath, [cli, 'status', '-p', pidfile])).out);

  say(`\nload: 16 keep-alive + 16 new-connection clients on 127.0.0.1:${port} for about ${seconds} s, ${reloads} reloads meanwhile`);
  // Bounded: stopped after the last reload, and in any case after seconds + 120 s.
  const keep = startLoad({ port, concurrency: 16, keepAlive: true, maxMs: (seconds + 120) * 1000 });
  const fresh = startLoad({ port, concurrency: 16, keepAlive: false, maxMs: (seconds + 120) * 1000 });
  const generations = [Number(fs.readFileSync(pidfile, 'utf8'))];
  const gap = (seconds * 1000) / (reloads + 1);
  for (let i = 0; i < reloads; i++) {
    await delay(gap); // pacing: spread the reloads over the load
    const t0 = Date.now();
    const r = await run(process.execPath, [cli, 'reload', '-p', pidfile]);
    const pid = Number(fs.readFileSync(pidfile, 'utf8'));
    say(`  reload ${i + 1}: exit ${r.code}, ${r.out} [forkover reload took ${Date.now() - t0} ms]`);
    if (r.code !== 0) ok = false;
    generations.push(pid);
  }
  await delay(gap); // let the last generation serve for a while too
  const [k, f] = await Promise.all([keep.stop(), fresh.stop()]);
  const total = k.requests + f.requests;
  const failed = k.failed + f.failed;
  const answered = new Set([...k.pids.keys(), ...f.pids.keys()]);
  say(`\nrequests: ${total} (keep-alive ${k.requests}, new connection ${f.requests})`);
  say(`failed:   ${failed} (keep-alive ${JSON.stringify(k.byKind)}, new connection ${JSON.stringify(f.byKind)})`);
  say(`generations (pidfile after each reload): ${generations.join(' -> ')}`);
  say(`PIDs that answered requests: ${[...answered].join(', ')}`);
  if (failed > 0) {
    ok = false;
    say(`errors: ${[...k.errors, ...f.errors].slice(0, 5).join('; ')}`);
  }
  if (new Set(generations).size !== reloads + 1) ok = false;
} finally {
  say(`\n$ forkover stop -p ${pidfile}`);
  const stopped = await run(process.execPath, [cli, 'stop', '-p', pidfile]);
  say(stopped.out);
  if (stopped.code !== 0) ok = false;
  if (!ok) sayLog();
  fs.rmSync(dir, { recursive: true, force: true });
}
say(ok ? '\nOK: every request was served through every reload.' : '\nFAILED: see above.');
process.exit(ok ? 0 : 1);
