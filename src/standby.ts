/**
 * The preload of a standby process (`--standby`; handoff.ts starts it). A generation
 * starts its successor's Node ahead of time, as `node --import <this file> <the app's
 * own execArgv and argv>`, and this module's top-level await holds it here, before the
 * app's main module loads, until a handoff needs it. A handoff then costs the app's own
 * start only, not Node's (about 100 ms of a 2-CPU machine's 150 ms cold start).
 *
 * The handoff writes one line to the fd named by FORKOVER_STANDBY_FD: JSON
 * `{ env, cwd }`, the environment and directory a cold-started successor would get at
 * that moment. This module makes process.env and the cwd exactly that, then returns, and
 * Node goes on to load the app as the main module: `require.main`, `process.argv` and
 * `import.meta.main`-style checks see what they would see in a cold start. EOF instead
 * of a line means the generation no longer needs this process (it stopped, drained or
 * discarded us): exit 0 without loading the app.
 *
 * Must not: import anything of forkover's. It runs from the build that started it, which
 * a deploy may have replaced, before the app (and the app's forkover) loads.
 */
import * as net from 'node:net';

const STANDBY_FD = 'FORKOVER_STANDBY_FD';

interface Go {
  env: Record<string, string>;
  cwd: string;
}

function waitForGo(fd: number): Promise<Go | undefined> {
  return new Promise((resolve) => {
    const socket = new net.Socket({ fd, readable: true, writable: false });
    let buf = '';
    const done = (go: Go | undefined) => {
      socket.destroy(); // closes the fd: the app must not inherit it
      resolve(go);
    };
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buf += chunk;
      const i = buf.indexOf('\n');
      if (i < 0) return;
      try {
        const go = JSON.parse(buf.slice(0, i)) as Go;
        done(typeof go.env === 'object' && go.env !== null && typeof go.cwd === 'string' ? go : undefined);
      } catch {
        done(undefined);
      }
    });
    socket.on('end', () => done(undefined));
    socket.on('error', () => done(undefined));
  });
}

const fd = Number(process.env[STANDBY_FD]);
if (Number.isInteger(fd) && fd > 2) {
  delete process.env[STANDBY_FD];
  // Our own `--import` must not reach what the app starts with process.execArgv
  // (child_process.fork, cluster) nor the next handoff: a cold start has no such flag.
  const i = process.execArgv.findIndex((a, k) => a === '--import' && process.execArgv[k + 1] === import.meta.url);
  if (i >= 0) process.execArgv.splice(i, 2);
  // Built-ins nearly every server loads; compiled now, while nobody waits.
  await import('node:http');
  const go = await waitForGo(fd);
  if (go === undefined) process.exit(0);
  for (const k of Object.keys(process.env)) if (!(k in go.env)) delete process.env[k];
  Object.assign(process.env, go.env);
  process.chdir(go.cwd);
}
