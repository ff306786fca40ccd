// A `-r` preload for bench/phases.mjs: notes the wall-clock time (ms since the epoch) of a
// process's start-up phases, kept in memory and appended to $BENCH_PHASES_FILE when the
// process exits, one line per mark: "<time> <pid> <what>". The marks:
//   origin          performance.timeOrigin: Node's start began
//   cpu <ms>        CPU time used so far, taken here, when Node's own start is done
//   preload         this file runs: the app's import graph comes next
//   spawn-call/-ret around child_process.spawn() (a launcher; an old generation at a handoff)
//   listen-call     net.Server#listen() called; listening: its 'listening' event
//   ready           the READY line written to the parent (readiness.ts)
//   pidfile         a file renamed into place that is not a sidecar: the pidfile (R2.3)
//   exit            the 'exit' event
// It only wraps these calls and does not change what they do. Not for apps: a benchmark
// tool, and bench/servers/plain.mjs gets a SIGTERM handler that exits, so that the bare
// server's marks are written too (it has none of its own).
'use strict';
const fs = require('node:fs');
const cp = require('node:child_process');
const net = require('node:net');
const { syncBuiltinESMExports } = require('node:module');

const file = process.env.BENCH_PHASES_FILE;
const lines = [];
const now = () => performance.timeOrigin + performance.now();
const mark = (what, at = now()) => lines.push(`${at.toFixed(3)} ${process.pid} ${what}`);

const cpu = process.cpuUsage();
mark('origin', performance.timeOrigin);
mark(`cpu ${((cpu.user + cpu.system) / 1000).toFixed(3)}`);
mark('preload');

const { spawn } = cp;
cp.spawn = function (...args) {
  mark('spawn-call');
  const child = spawn.apply(this, args);
  mark('spawn-ret');
  return child;
};
const { writeSync, renameSync } = fs;
fs.writeSync = function (fd, data, ...rest) {
  if (typeof data === 'string' && data.startsWith('READY ')) mark('ready');
  return writeSync.call(this, fd, data, ...rest);
};
fs.renameSync = function (from, to) {
  const r = renameSync.call(this, from, to);
  if (!String(to).endsWith('.meta')) mark('pidfile');
  return r;
};
const { listen } = net.Server.prototype;
net.Server.prototype.listen = function (...args) {
  mark('listen-call');
  this.once('listening', () => mark('listening'));
  return listen.apply(this, args);
};
syncBuiltinESMExports(); // ESM imports of these built-ins see the wrappers too

if (/[/\\]plain\.mjs$/.test(process.argv[1] ?? '')) process.on('SIGTERM', () => process.exit(0));
process.on('exit', () => {
  mark('exit');
  if (file) fs.appendFileSync(file, `${lines.join('\n')}\n`);
});
