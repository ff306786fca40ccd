/**
 * Start the next generation and wait for it: spawn this app again with the listening
 * sockets, a fresh log fd and a readiness channel; resolve once it reports ready, or
 * kill it and say why not (exit code, signal, timeout, its own FAIL reason).
 *
 * One handoff at a time is the caller's rule (daemon.ts); this file runs one attempt.
 *
 * Must not: install signal handlers, print, or touch the pidfile.
 */
import * as fs from 'node:fs';
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import type * as net from 'node:net';
import { ENV, childEnv, selfCommand, strayFds } from './respawn.js';
import { awaitChild, type ChildEvent, type ReadyInfo } from './readiness.js';
import { LOG_FILE_MODE } from './defaults.js';

export interface SuccessorSpec {
  listeners: { name: string; fd: number }[];
  /** Open this afresh for the child's stdout and stderr; otherwise it shares ours. */
  logfile: string | undefined;
  /** Extra environment for the child (its role, the handoff record). */
  env: Record<string, string>;
  keepNotify: boolean;
  timeoutMs: number;
  /** Aborting abandons the attempt: the child is killed. */
  signal: AbortSignal;
}

export type SuccessorResult =
  | { ok: true; pid: number; child: ChildProcess; channel: net.Socket; info: ReadyInfo }
  | { ok: false; pid: number | undefined; reason: string };

function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  if (signal) return `was killed by ${signal}`;
  return `exited with code ${code}`;
}

/** Start a successor and wait for it to become ready (contracts R3.4 steps 1–2). */
export async function startSuccessor(spec: SuccessorSpec): Promise<SuccessorResult> {
  let out: number | 'inherit' = 'inherit';
  if (spec.logfile !== undefined) {
    try {
      // The new generation gets the log opened afresh by path, so a rotated log is
      // picked up by the handoff (contracts R8.2a).
      out = fs.openSync(spec.logfile, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT, LOG_FILE_MODE);
    } catch (err) {
      return { ok: false, pid: undefined, reason: `cannot open log file ${spec.logfile}: ${(err as Error).message}` };
    }
  }
  const readyFd = 3 + spec.listeners.length;
  const fds = spec.listeners.map((l) => l.fd);
  const stdio: StdioOptions = ['ignore', out, out, ...fds, 'pipe'];
  const { file, args } = selfCommand();
  let child: ChildProcess;
  try {
    child = spawn(file, args, {
      stdio,
      cwd: process.cwd(),
      env: childEnv(
        process.env,
        {
          ...spec.env,
          [ENV.FDS]: JSON.stringify(spec.listeners.map((l) => l.name)),
          [ENV.READY_FD]: String(readyFd),
          [ENV.CLOSE_FDS]: strayFds([...fds, ...(typeof out === 'number' ? [out] : [])]).join(','),
        },
        spec.keepNotify,
      ),
    });
  } catch (err) {
    return { ok: false, pid: undefined, reason: `cannot start the new generation: ${(err as Error).message}` };
  } finally {
    if (typeof out === 'number') fs.closeSync(out);
  }
  const pid = child.pid;
  if (pid === undefined) {
    const err = await new Promise<Error>((resolve) => child.once('error', resolve));
    return { ok: false, pid: undefined, reason: `cannot start the new generation: ${err.message}` };
  }
  const channel = child.stdio[readyFd] as net.Socket;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode });
    else child.once('exit', (code, signal) => resolve({ code, signal }));
  });

  let timer: NodeJS.Timeout | undefined;
  const stopped = new Promise<'timeout' | 'aborted'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), spec.timeoutMs);
    if (spec.signal.aborted) resolve('aborted');
    spec.signal.addEventListener('abort', () => resolve('aborted'), { once: true });
  });
  const event: ChildEvent | 'timeout' | 'aborted' = await Promise.race([awaitChild(channel), stopped]);
  clearTimeout(timer);
  if (typeof event === 'object' && event.kind === 'ready') {
    if (event.info.pid === pid) return { ok: true, pid, child, channel, info: event.info };
  }

  // Failed: make sure it is gone, then say why in its own terms. EOF usually comes a
  // moment before the exit status, so give the status a moment to arrive.
  if (typeof event === 'object') {
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise((r) => (grace = setTimeout(r, 1_000)))]);
    clearTimeout(grace);
  }
  const alive = child.exitCode === null && child.signalCode === null;
  if (alive) child.kill('SIGKILL');
  const { code, signal } = await exited;
  channel.destroy();
  let reason: string;
  if (event === 'timeout') reason = `new process ${pid} did not become ready within --upgrade-timeout ${spec.timeoutMs / 1000} s and was killed`;
  else if (event === 'aborted') reason = `the handoff was abandoned; new process ${pid} was killed`;
  else if (event.kind === 'fail') reason = `new process ${pid} failed to start (${event.reason}) and ${alive ? 'was killed' : describeExit(code, signal)}`;
  else if (event.kind === 'ready') reason = `new process ${pid} reported the wrong PID ${event.info.pid} and was killed`;
  else reason = `new process ${pid} ${alive ? 'closed its channel and was killed' : describeExit(code, signal)} before becoming ready`;
  return { ok: false, pid, reason };
}
