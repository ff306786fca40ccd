/**
 * forkover's own log lines: `<ISO time> forkover[<pid>]: <message>` on stderr, which is
 * the log file in daemon mode. Written synchronously so lines keep their order and still
 * get out from exit handlers.
 *
 * A line that cannot be written (a full disk: ENOSPC) is counted, never thrown: the
 * daemon keeps serving. Once a write works again, one line says how many were lost and
 * when, before anything else (issue 17). Until then `logFailure()` says the log fails,
 * for `status`; a replaced generation hands its count to its successor (`takeDropped`,
 * `addDropped`), so lines lost across handoffs are reported too.
 *
 * Must not: import other src/ files.
 */
import { writeSync } from 'node:fs';

/** Lines that could not be written: how many, the first and last one's time, and why. */
export interface DroppedLines {
  lines: number;
  /** ISO times of the first and the last line dropped. */
  first: string;
  last: string;
  /** The error code (ENOSPC, EIO, …), or several, comma-separated. */
  error: string;
}

/** Since when writes fail, and with what: for the sidecar and `status`. */
export interface LogFailure {
  since: string;
  error: string;
}

/** How often a pending "lines dropped" note is retried while nothing else is logged. */
const RETRY_MS = 5_000;

let dropped: DroppedLines | undefined;
let failure: LogFailure | undefined;
/** A write failed halfway through a line: the next one must start on a line of its own. */
let brokenLine = false;
let retry: NodeJS.Timeout | undefined;
const watchers = new Set<() => void>();

/** Write all of `text` to fd 2; the error code if it could not. A short write is retried, as the kernel may take part of it. */
function writeAll(text: string): string | undefined {
  const buf = Buffer.from(text);
  let off = 0;
  try {
    while (off < buf.length) off += writeSync(2, buf, off);
    return undefined;
  } catch (err) {
    if (off > 0) brokenLine = true;
    return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  }
}

function prefix(at: string): string {
  return `${at} forkover[${process.pid}]: `;
}

function notify(): void {
  for (const w of watchers) {
    try {
      w();
    } catch {
      // a watcher's trouble is not the log's
    }
  }
}

function count(at: string, error: string, lines = 1): void {
  if (dropped === undefined) dropped = { lines: 0, first: at, last: at, error };
  dropped.lines += lines;
  dropped.last = at;
  if (!dropped.error.split(', ').includes(error)) dropped.error += `, ${error}`;
  if (failure === undefined) {
    failure = { since: at, error };
    notify();
  }
  armRetry();
}

/** Keep trying to write the note while lines are pending, so it comes out even if nothing else is logged. */
function armRetry(): void {
  if (retry !== undefined || dropped === undefined) return;
  retry = setInterval(() => {
    if (flushDropped(new Date().toISOString()) === undefined) {
      clearInterval(retry);
      retry = undefined;
    }
  }, RETRY_MS);
  retry.unref(); // never keeps a process alive
}

/** Write the pending note, if any; the error code if it could not be written. */
function flushDropped(at: string): string | undefined {
  if (dropped === undefined) return undefined;
  const d = dropped;
  const note = `${brokenLine ? '\n' : ''}${prefix(at)}${d.lines} log line${d.lines === 1 ? '' : 's'} dropped between ${d.first} and ${d.last} (${d.error})\n`;
  const error = writeAll(note);
  if (error !== undefined) return error;
  brokenLine = false;
  if (dropped === d) dropped = undefined;
  if (failure !== undefined) {
    failure = undefined;
    notify();
  }
  return undefined;
}

export function log(message: string): void {
  const at = new Date().toISOString();
  const noteError = flushDropped(at);
  if (noteError !== undefined) {
    count(at, noteError);
    return;
  }
  const error = writeAll(`${brokenLine ? '\n' : ''}${prefix(at)}${message}\n`);
  if (error === undefined) {
    brokenLine = false;
    if (failure !== undefined) {
      failure = undefined;
      notify();
    }
    return;
  }
  // stderr full (ENOSPC), gone (EPIPE, a closed terminal) or broken: count it
  count(at, error);
}

/** Whether forkover's log writes fail right now, and since when; undefined while they work. */
export function logFailure(): LogFailure | undefined {
  return failure;
}

/** Hear when the log starts or stops failing (`logFailure()` changes). Returns the undo. */
export function onLogFailure(watch: () => void): () => void {
  watchers.add(watch);
  return () => watchers.delete(watch);
}

/** The lines dropped so far, to hand to a successor that will report them; none remain here. */
export function takeDropped(): DroppedLines | undefined {
  const d = dropped;
  dropped = undefined;
  return d;
}

/** Take on lines a predecessor dropped; reported with ours once a write works. */
export function addDropped(d: DroppedLines): void {
  if (!Number.isInteger(d.lines) || d.lines <= 0 || typeof d.first !== 'string' || typeof d.last !== 'string') return;
  if (dropped === undefined) {
    dropped = { ...d };
  } else {
    dropped.lines += d.lines;
    if (d.first < dropped.first) dropped.first = d.first;
    if (d.last > dropped.last) dropped.last = d.last;
    for (const e of String(d.error).split(', ')) if (!dropped.error.split(', ').includes(e)) dropped.error += `, ${e}`;
  }
  armRetry();
}
