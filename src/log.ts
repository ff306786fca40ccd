/**
 * forkover's own log lines: `<ISO time> forkover[<pid>]: <message>` on stderr, which is
 * the log file in daemon mode. Written synchronously so lines keep their order and still
 * get out from exit handlers.
 *
 * Must not: import other src/ files.
 */
import { writeSync } from 'node:fs';

export function log(message: string): void {
  try {
    writeSync(2, `${new Date().toISOString()} forkover[${process.pid}]: ${message}\n`);
  } catch {
    // stderr gone (EPIPE, a closed terminal): nowhere left to say it
  }
}
