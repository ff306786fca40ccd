// Issue 3: zero-downtime generations. USR2/HUP handoff, rollback, one handoff at a time,
// a synchronous reload, and no failed request through handoffs, keep-alive included.
// Contracts: R2.4, R3.3, R3.4, R3.5, R5.4.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import {
  ROOT,
  alive,
  childrenOf,
  cleanup,
  cli,
  fdCount,
  fixture,
  get,
  load,
  node,
  processesTitled,
  readPid,
  acceptedConnections,
  start,
  startDaemon,
  tmpdir,
  track,
  waitForOutput,
  waitUntil,
} from '../helpers/util.js';

const APP = fixture('app.mjs');
afterEach(cleanup);

/** Send USR2 and wait until the pidfile names a new, live generation. */
async function handoff(pidfile: string, signal: NodeJS.Signals = 'SIGUSR2'): Promise<number> {
  const before = readPid(pidfile)!;
  process.kill(before, signal);
  const after = await waitUntil(() => {
    const p = readPid(pidfile);
    return p !== undefined && p !== before && alive(p) ? p : undefined;
  }, 15_000, `a new generation after ${signal} to ${before}`);
  track(after);
  return after;
}

/**
 * A private copy of the built package in `dir`/pkg, as `npm ci` leaves one in
 * node_modules/forkover, with examples/hello.js beside it. Returns the app's path.
 * `without` names packages its node_modules lacks (the others are links to ours).
 */
function privatePackage(dir: string, without: string[] = []): { pkg: string; app: string } {
  const pkg = path.join(dir, 'pkg');
  fs.mkdirSync(path.join(pkg, 'examples'), { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(pkg, 'package.json'));
  fs.cpSync(path.join(ROOT, 'dist'), path.join(pkg, 'dist'), { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'examples/hello.js'), path.join(pkg, 'examples/hello.js'));
  if (without.length === 0) {
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(pkg, 'node_modules'));
  } else {
    fs.mkdirSync(path.join(pkg, 'node_modules'));
    for (const name of fs.readdirSync(path.join(ROOT, 'node_modules'))) {
      if (!without.includes(name)) fs.symlinkSync(path.join(ROOT, 'node_modules', name), path.join(pkg, 'node_modules', name));
    }
  }
  return { pkg, app: path.join(pkg, 'examples/hello.js') };
}

/**
 * Read the pidfile on every turn of the event loop until stop() (or 120 s), calling
 * `onRead` with each PID. Always stops: tests call stop() in a finally.
 */
function watchPidfile(pidfile: string, onRead: (pid: number | undefined, reads: number) => void) {
  let polling = true;
  const deadline = Date.now() + 120_000;
  const done = (async () => {
    let reads = 0;
    while (polling && Date.now() < deadline) {
      reads++;
      onRead(readPid(pidfile), reads);
      await new Promise((r) => setImmediate(r));
    }
    return reads;
  })();
  return { done, stop: () => void (polling = false) };
}

function meta(pidfile: string) {
  return JSON.parse(fs.readFileSync(`${pidfile}.meta`, 'utf8'));
}

describe('handoff', () => {
  test('HUP and USR2 hand over: the new generation serves on the same port, the old one exits', async () => {
    const dir = tmpdir();
    const d = await startDaemon(dir);
    // The pidfile names the new generation a moment before the old one stops accepting
    // (R3.3): only once the old one is gone must every answer come from the new one.
    const g2 = await handoff(d.pidfile, 'SIGHUP');
    await waitUntil(() => !alive(d.pid), 10_000, 'the old generation to exit');
    expect((await get(d.port)).body).toBe(`hello from ${g2}\n`);
    const g3 = await handoff(d.pidfile, 'SIGUSR2');
    await waitUntil(() => !alive(g2), 10_000, 'the second generation to exit');
    expect((await get(d.port)).body).toBe(`hello from ${g3}\n`);
    const state = meta(d.pidfile);
    expect(state.leader.generation).toBe(3);
    expect(state.lastHandoff).toMatchObject({ outcome: 'ok', oldPid: g2, newPid: g3 });
    // The new generation opened the log afresh by path (R3.4 step 1): its fd 1 is the log.
    expect(fs.readlinkSync(`/proc/${g3}/fd/1`)).toBe(d.logfile);
  });

  test('100 handoffs in a row leave one generation, no zombies, and no fd growth', async () => {
    const dir = tmpdir();
    const name = `h100-${process.pid % 10000}`;
    const d = await startDaemon(dir, ['--name', name]);
    const firstFds = fdCount(d.pid);
    let pid = d.pid;
    for (let i = 0; i < 100; i++) {
      pid = await handoff(d.pidfile);
    }
    // Old generations have no connections, so each exits right after its handoff.
    await waitUntil(() => processesTitled(name).length === 1, 10_000, 'a single generation');
    expect(processesTitled(name)).toEqual([pid]);
    // The last replaced generation may have exited a moment ago and not been reaped yet
    // (by the subreaper, tini): a zombie counts only if it stays. A leaked one would.
    await waitUntil(() => processesTitled(name, 'zombie').length === 0, 10_000, () => `zombie generations ${processesTitled(name, 'zombie').join(', ')} to be reaped`);
    // The channel to the previous generation closes when that one's end does, a moment
    // after it exits: a leaked fd stays, a closing one goes (seen as 20 vs 19 under load).
    const fds = () => fs.readdirSync(`/proc/${pid}/fd`).map((f) => {
      try {
        return `${f} ${fs.readlinkSync(`/proc/${pid}/fd/${f}`)}`;
      } catch {
        return `${f} (closed while listing)`;
      }
    });
    await waitUntil(() => fdCount(pid) <= firstFds, 10_000, () => `generation ${pid} to hold at most the first one's ${firstFds} fds, not:\n  ${fds().join('\n  ')}`);
    expect(meta(d.pidfile).handoffSeq).toBe(100);
    expect((await get(d.port)).body).toBe(`hello from ${pid}\n`);
  }, 120_000);

  test('a 5 s request started before a handoff completes with 200 from the old generation', async () => {
    const dir = tmpdir();
    const d = await startDaemon(dir);
    const before = acceptedConnections(d.pid, d.port);
    const slow = get(d.port, '/slow?ms=5000');
    await waitUntil(() => acceptedConnections(d.pid, d.port) > before, 5_000, 'the slow request to be accepted');
    const r = await cli(['reload', '-p', d.pidfile]);
    expect(r.code).toBe(0);
    const g2 = readPid(d.pidfile)!;
    track(g2);
    expect(g2).not.toBe(d.pid);
    expect(alive(d.pid)).toBe(true); // still draining the slow request
    expect((await cli(['status', '-p', d.pidfile])).stdout).toContain(`draining: PID ${d.pid}`);
    const reply = await slow;
    expect(reply.status).toBe(200);
    expect(reply.body).toBe(`slow ${d.pid}\n`);
    await waitUntil(() => !alive(d.pid), 10_000, 'the old generation to exit after its drain');
  });

  test('a draining generation answers Connection: close on a keep-alive response in flight and on a later request of an idle keep-alive connection', async () => {
    // R3.4 step 3, drain.ts: from the drain on, responses carry Connection: close, so that
    // a client racing a request towards an idle connection is served, not reset. The slow
    // request lasts 6 s so that it is still in flight when the drain begins, even when a
    // loaded machine makes the handoff slow.
    const dir = tmpdir();
    const d = await startDaemon(dir);
    const idle = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const busy = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await get(d.port, '/', idle);
      expect(first.headers.connection).toBe('keep-alive');
      const before = acceptedConnections(d.pid, d.port);
      const slow = get(d.port, '/slow?ms=6000', busy);
      await waitUntil(() => acceptedConnections(d.pid, d.port) > before, 5_000, 'the slow request to be accepted');
      expect((await cli(['reload', '-p', d.pidfile])).code).toBe(0);
      track(readPid(d.pidfile));
      // Until the old generation begins its drain, its idle connection stays keep-alive;
      // from then on its answer says close. Every answer on it comes from the old PID.
      const answers: string[] = [];
      await waitUntil(async () => {
        const r = await get(d.port, '/', idle);
        answers.push(`${r.body.trim()} (${r.headers.connection})`);
        expect(r.body).toBe(`hello from ${d.pid}\n`);
        return r.headers.connection === 'close';
      }, 10_000, () => `an answer with Connection: close on the idle connection; got ${answers.length}, the last ${answers.slice(-3).join(', ')}`);
      const reply = await slow;
      expect(reply.body).toBe(`slow ${d.pid}\n`);
      expect(reply.headers.connection).toBe('close');
    } finally {
      idle.destroy();
      busy.destroy();
    }
  });

  test('10 USR2 within 50 ms cause exactly one handoff', async () => {
    const dir = tmpdir();
    const d = await startDaemon(dir);
    const t0 = Date.now();
    for (let i = 0; i < 10; i++) {
      try {
        process.kill(d.pid, 'SIGUSR2');
      } catch {
        // the old generation may already have gone: that is fine
      }
    }
    expect(Date.now() - t0).toBeLessThan(50);
    // Standard signals coalesce, so the burst may reach the handler as one. To see the
    // in-progress guard itself, signal again once the handoff has visibly started.
    await waitUntil(() => fs.readFileSync(d.logfile, 'utf8').includes('starting generation'), 10_000, 'the handoff to start');
    if (readPid(d.pidfile) === d.pid) process.kill(d.pid, 'SIGUSR2');
    const g2 = await waitUntil(() => {
      const p = readPid(d.pidfile);
      return p !== d.pid && p !== undefined && alive(p) ? p : undefined;
    }, 15_000);
    track(g2);
    await waitUntil(() => !alive(d.pid), 10_000, 'the old generation to exit');
    const log = fs.readFileSync(d.logfile, 'utf8');
    expect(log.match(/starting generation/g)?.length).toBe(1);
    expect(log).toMatch(/SIGUSR2 ignored: a handoff is already in progress/);
    expect(meta(d.pidfile).handoffSeq).toBe(1);
    expect((await get(d.port)).body).toBe(`hello from ${g2}\n`);
  });

  test('a unix-socket listener survives a handoff: the file stays and keeps accepting', async () => {
    const dir = tmpdir();
    const sock = path.join(dir, 'app.sock');
    const d = await startDaemon(dir, ['--socket', sock], APP);
    const viaSocket = () =>
      new Promise<string>((resolve, reject) => {
        http
          .get({ socketPath: sock, path: '/', agent: false }, (res) => {
            let body = '';
            res.on('data', (c) => (body += c));
            res.on('end', () => resolve(body));
          })
          .on('error', reject);
      });
    expect(await viaSocket()).toBe(`hello from ${d.pid}\n`);
    const ino = fs.statSync(sock).ino;
    const g2 = await handoff(d.pidfile);
    await waitUntil(() => !alive(d.pid), 10_000, 'the old generation to exit');
    // The old generation closed its server; the path must still be the same socket.
    expect(fs.statSync(sock).isSocket()).toBe(true);
    expect(fs.statSync(sock).ino).toBe(ino);
    expect(await viaSocket()).toBe(`hello from ${g2}\n`);
    // A final stop removes the socket file it served.
    expect((await cli(['stop', '-p', d.pidfile])).code).toBe(0);
    expect(fs.existsSync(sock)).toBe(false);
  });

  test('a deploy that replaces dist/ under a running daemon does not break its next handoff', async () => {
    // The build's chunks carry content hashes in their names, so a new build deletes the
    // files the running generation would import at the signal. The running generation
    // must already hold what a handoff needs (it is in the start chunk, core-*.js), and
    // the new generation must start from the new files.
    const dir = tmpdir();
    const { pkg, app } = privatePackage(dir);
    const d = await startDaemon(dir, [], app);
    expect((await get(d.port)).body).toBe(`hello from ${d.pid}\n`);

    // The deploy: every chunk under a new name, the old names gone.
    const chunks = path.join(pkg, 'dist/chunks');
    const renamed = fs.readdirSync(chunks).filter((f) => f.endsWith('.js')).map((f) => [f, f.replace(/\.js$/, '-v2.js')] as const);
    expect(renamed.some(([f]) => f.startsWith('core-'))).toBe(true);
    const rewrite = (text: string) => renamed.reduce((t, [from, to]) => t.split(from).join(to), text);
    const next = new Map(renamed.map(([from, to]) => [to, rewrite(fs.readFileSync(path.join(chunks, from), 'utf8'))]));
    const index = rewrite(fs.readFileSync(path.join(pkg, 'dist/index.js'), 'utf8'));
    fs.rmSync(chunks, { recursive: true });
    fs.mkdirSync(chunks);
    for (const [name, text] of next) fs.writeFileSync(path.join(chunks, name), text);
    fs.writeFileSync(path.join(pkg, 'dist/index.js'), index);

    const g2 = await handoff(d.pidfile);
    await waitUntil(() => !alive(d.pid), 10_000, 'the old generation to exit');
    expect((await get(d.port)).body).toBe(`hello from ${g2}\n`);
    // The new generation could only start from the new files: the old ones are gone.
    expect(fs.readFileSync(d.logfile, 'utf8')).not.toMatch(/rolled back/);
  });

  test('a socket file left by a killed daemon is replaced at the next start, one that answers is not', async () => {
    const dir = tmpdir();
    const sock = path.join(dir, 'app.sock');
    const d = await startDaemon(dir, ['--socket', sock], APP);
    process.kill(d.pid, 'SIGKILL');
    await waitUntil(() => !alive(d.pid), 5_000);
    expect(fs.existsSync(sock)).toBe(true); // left behind: connect gives ECONNREFUSED
    const d2 = await startDaemon(dir, ['--socket', sock], APP);
    expect(d2.pid).not.toBe(d.pid);
    // Now something answers on it: a second daemon (other pidfile) must refuse the path.
    const other = tmpdir();
    const r = await node(APP, ['--port', '0', '--socket', sock, '--daemon', '-p', 'b.pid', '-l', 'b.log'], { cwd: other });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`something already answers on ${sock}`);
    expect((await get(d2.port)).status).toBe(200);
  });
});

describe('listeners are matched by name (R5.4)', () => {
  test.each([
    ['IPv4', []],
    ['IPv6', ['--host6']],
  ])('%s: a new version that reorders and adds listeners still gets the right sockets', async (_family, extra) => {
    const dir = tmpdir();
    const versionFile = path.join(dir, 'version');
    const pidfile = path.join(dir, 'app.pid');
    const launched = await node(
      fixture('listeners.mjs'),
      ['--version-file', versionFile, '--daemon', '-p', pidfile, '-l', path.join(dir, 'app.log'), ...(extra as string[])],
      { cwd: dir },
    );
    track(readPid(pidfile));
    expect(launched.code).toBe(0);
    const ports = (which: string, state: { listeners: { name: string; address: string }[] }) =>
      Number(/:(\d+)$/.exec(state.listeners.find((l) => l.name === which)!.address)![1]);
    const v1 = meta(pidfile);
    const pub = ports('public', v1);
    const admin = ports('admin', v1);
    const ask = (port: number, host: string) =>
      new Promise<string>((resolve, reject) => {
        http.get({ host, port, path: '/', agent: false }, (res) => {
          let b = '';
          res.on('data', (c) => (b += c));
          res.on('end', () => resolve(b));
        }).on('error', reject);
      });
    const pubHost = extra.length ? '::1' : '127.0.0.1';
    expect(await ask(pub, pubHost)).toBe(`public ${v1.leader.pid}\n`);
    fs.writeFileSync(versionFile, 'v2');
    const g2 = await handoff(pidfile);
    const v2 = meta(pidfile);
    // Every answer from the new version only once the old one is gone (R3.3).
    await waitUntil(() => !alive(v1.leader.pid), 10_000, 'the old generation to exit');
    expect(ports('public', v2)).toBe(pub);
    expect(ports('admin', v2)).toBe(admin);
    expect(await ask(pub, pubHost)).toBe(`public ${g2}\n`);
    expect(await ask(admin, '127.0.0.1')).toBe(`admin ${g2}\n`);
    expect(await ask(ports('metrics', v2), '127.0.0.1')).toBe(`metrics ${g2}\n`);
  });

  test('a listener the new version drops is closed once it is ready', async () => {
    const dir = tmpdir();
    const versionFile = path.join(dir, 'version');
    fs.writeFileSync(versionFile, 'v2');
    const pidfile = path.join(dir, 'app.pid');
    const logfile = path.join(dir, 'app.log');
    const r = await node(fixture('listeners.mjs'), ['--version-file', versionFile, '--daemon', '-p', pidfile, '-l', logfile], { cwd: dir });
    const g1 = readPid(pidfile)!;
    track(g1);
    expect(r.code).toBe(0);
    const metrics = Number(/:(\d+)$/.exec(meta(pidfile).listeners.find((l: { name: string }) => l.name === 'metrics').address)![1]);
    expect((await get(metrics)).status).toBe(200);
    fs.writeFileSync(versionFile, 'v1');
    await handoff(pidfile);
    expect(meta(pidfile).listeners.map((l: { name: string }) => l.name).sort()).toEqual(['admin', 'public']);
    expect(fs.readFileSync(logfile, 'utf8')).toContain('closing inherited listener "metrics"');
    await waitUntil(() => !alive(g1), 10_000, 'the old generation to exit');
    // With the old generation gone, nothing listens on the dropped port any more.
    await expect(get(metrics)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});

describe('rollback (R2.4, R3.4)', () => {
  test('a new version that throws rolls back: reload exits 1, the old PID serves, the pidfile is unchanged; then a retry succeeds', async () => {
    const dir = tmpdir();
    const modeFile = path.join(dir, 'mode');
    const d = await startDaemon(dir, ['--mode-file', modeFile], APP);
    fs.writeFileSync(modeFile, 'throw');
    const r = await cli(['reload', '-p', d.pidfile]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/rolled-back: new process \d+ failed to start \(Error: fixture: boom before listening\)/);
    expect(readPid(d.pidfile)).toBe(d.pid);
    expect(fs.readFileSync(d.pidfile, 'utf8')).toBe(`${d.pid}\n`);
    expect((await get(d.port)).body).toBe(`hello from ${d.pid}\n`);
    expect(fs.readFileSync(d.logfile, 'utf8')).toMatch(/rolled back: .*exited with code 1/);

    fs.writeFileSync(modeFile, 'exit');
    const r2 = await cli(['reload', '-p', d.pidfile]);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/exited with code 3 before becoming ready/);

    fs.writeFileSync(modeFile, 'ok');
    const r3 = await cli(['reload', '-p', d.pidfile]);
    expect(r3.code).toBe(0);
    const g2 = readPid(d.pidfile)!;
    track(g2);
    expect(g2).not.toBe(d.pid);
    expect((await get(d.port)).body).toBe(`hello from ${g2}\n`);
  });

  test('only the start chunk on disk: a start and a reload need no chunk loaded on first use', async () => {
    // A deploy racing a start can delete the chunks a running generation has not loaded
    // yet. The handoff code is part of the start chunk (scripts/bundle.mjs), so a plain
    // daemon needs nothing else: not to start, not to hand off, not to start the next
    // generation. This fails if any of that moves into a chunk of its own.
    const dir = tmpdir();
    const { pkg, app } = privatePackage(dir);
    const chunks = path.join(pkg, 'dist/chunks');
    const lazy = fs.readdirSync(chunks).filter((f) => f.endsWith('.js') && !f.startsWith('core-'));
    expect(lazy.length).toBeGreaterThan(0);
    for (const f of lazy) fs.rmSync(path.join(chunks, f));
    const d = await startDaemon(dir, [], app);
    const r = await cli(['reload', '-p', d.pidfile]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const g2 = readPid(d.pidfile)!;
    track(g2);
    expect(g2).not.toBe(d.pid);
    // Only a closed old generation guarantees the next connection reaches the new one.
    await waitUntil(() => !alive(d.pid), 10_000, 'the old generation to exit');
    expect((await get(d.port)).body).toBe(`hello from ${g2}\n`);
  });

  test('signal-exit is in the start chunk: without it in node_modules a generation starts, hands over and still removes its pidfile on a fatal signal (R2.7)', async () => {
    // scripts/bundle.mjs bundles signal-exit into core-*.js, so that no generation
    // resolves and loads the package before it claims the pidfile (issue 13). If it ever
    // became an import of the package again, this start would fail.
    const dir = tmpdir();
    const { pkg, app } = privatePackage(dir, ['signal-exit']);
    expect(fs.existsSync(path.join(pkg, 'node_modules/signal-exit'))).toBe(false);
    expect(fs.existsSync(path.join(pkg, 'node_modules/commander'))).toBe(true);
    const d = await startDaemon(dir, [], app);
    const g2 = await handoff(d.pidfile);
    await waitUntil(() => !alive(d.pid), 10_000, 'the old generation to exit');
    expect((await get(d.port)).body).toBe(`hello from ${g2}\n`);
    // SIGALRM: fatal, and neither forkover nor the app handles it; signal-exit runs the
    // generation's exit cleanup first, which removes the pidfile that names it.
    process.kill(g2, 'SIGALRM');
    await waitUntil(() => !alive(g2), 10_000, 'the generation to die of SIGALRM');
    expect(fs.existsSync(d.pidfile)).toBe(false);
  });

  test('a new version that hangs rolls back after --upgrade-timeout; USR2 afterwards succeeds', async () => {
    const dir = tmpdir();
    const modeFile = path.join(dir, 'mode');
    const d = await startDaemon(dir, ['--mode-file', modeFile, '--upgrade-timeout', '1'], APP);
    fs.writeFileSync(modeFile, 'hang');
    const t0 = Date.now();
    const r = await cli(['reload', '-p', d.pidfile]);
    expect(r.code).toBe(1);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1_000);
    expect(r.stderr).toMatch(/did not become ready within --upgrade-timeout 1 s and was killed/);
    const hung = Number(/new process (\d+)/.exec(r.stderr)![1]);
    expect(alive(hung)).toBe(false);
    expect(readPid(d.pidfile)).toBe(d.pid);
    fs.writeFileSync(modeFile, 'ok');
    const g2 = await handoff(d.pidfile);
    await waitUntil(() => !alive(d.pid), 10_000, 'the old generation to exit');
    expect((await get(d.port)).body).toBe(`hello from ${g2}\n`);
  });

  test('a successor that wrote the pidfile and then died: the old generation writes its own PID back', async () => {
    const dir = tmpdir();
    const modeFile = path.join(dir, 'mode');
    const d = await startDaemon(dir, ['--mode-file', modeFile], APP);
    fs.writeFileSync(modeFile, 'crash-after-publish');
    const seen = new Set<number>();
    const poller = watchPidfile(d.pidfile, (p) => {
      if (p !== undefined) seen.add(p);
    });
    const r = await cli(['reload', '-p', d.pidfile]).finally(poller.stop);
    expect(r.code).toBe(1);
    expect(readPid(d.pidfile)).toBe(d.pid);
    expect(meta(d.pidfile).leader.pid).toBe(d.pid);
    expect(meta(d.pidfile).lastHandoff.outcome).toBe('rolled-back');
    expect((await get(d.port)).body).toBe(`hello from ${d.pid}\n`);
    // The successor's PID was in the pidfile for a moment (this is what the test covers).
    expect(seen.size).toBeGreaterThanOrEqual(2);
  });

  test('--max-draining: a handoff beyond the cap is refused and reload exits 1', async () => {
    const dir = tmpdir();
    const d = await startDaemon(dir, ['--max-draining', '1']);
    const before = acceptedConnections(d.pid, d.port);
    const slow = get(d.port, '/slow?ms=4000');
    await waitUntil(() => acceptedConnections(d.pid, d.port) > before, 5_000, 'the slow request to be accepted');
    expect((await cli(['reload', '-p', d.pidfile])).code).toBe(0);
    const g2 = readPid(d.pidfile)!;
    track(g2);
    const r = await cli(['reload', '-p', d.pidfile]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`refused: 1 replaced generations are still draining \\(PIDs ${d.pid}\\)`));
    expect(readPid(d.pidfile)).toBe(g2);
    expect((await slow).status).toBe(200);
    await waitUntil(() => !alive(d.pid), 10_000);
    const again = await cli(['reload', '-p', d.pidfile]);
    track(readPid(d.pidfile));
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
  });
});

describe('no failed requests (R3.3, R3.4)', () => {
  test.each([
    ['keep-alive', true, []],
    ['new connection per request', false, []],
    ['keep-alive, --standby', true, ['--standby']],
  ])('%s: 20 handoffs under load, 0 failures, and the pidfile always names a live generation', async (_mode, keepAlive, flags) => {
    const dir = tmpdir();
    const d = await startDaemon(dir, flags);
    const l = load(d.port, { concurrency: 16, keepAlive, maxMs: 90_000 });
    // Poll the pidfile as fast as the event loop allows during all handoffs (R3.3).
    const violations: string[] = [];
    // A read and a liveness check are two moments: the old generation may exit between
    // them, after the rename that replaced it (that is allowed). A real violation lasts:
    // the PID is dead and a read after that still names it.
    const poller = watchPidfile(d.pidfile, (p, reads) => {
      if ((p === undefined || !alive(p)) && readPid(d.pidfile) === p && violations.length < 20) {
        violations.push(`pidfile named ${p} (dead) at read ${reads}`);
      }
    });
    const pids = [d.pid];
    let stats;
    try {
      for (let i = 0; i < 20; i++) {
        await waitUntil(() => l.stats.ok > (i + 1) * 20, 10_000, 'requests between handoffs');
        const r = await cli(['reload', '-p', d.pidfile]);
        const p = readPid(d.pidfile)!;
        track(p);
        expect(r.stderr).toBe('');
        expect(r.code).toBe(0);
        pids.push(p);
      }
      await waitUntil(() => l.stats.ok > 21 * 20 + 50, 10_000, 'requests after the last handoff');
    } finally {
      stats = await l.stop();
      poller.stop();
    }
    const reads = await poller.done;
    console.log(`${_mode}: ${stats.ok} requests, ${stats.failed} failed, ${stats.pids.size} generations answered, ${reads} pidfile reads`);
    expect(new Set(pids).size).toBe(21);
    expect(stats.errors).toEqual([]);
    expect(stats.byKind).toEqual({});
    expect(stats.failed).toBe(0);
    expect(stats.ok).toBeGreaterThan(400);
    expect(stats.pids.size).toBeGreaterThanOrEqual(10); // many generations actually answered
    expect(violations).toEqual([]);
    expect(reads).toBeGreaterThan(1000);
  }, 120_000);
});

describe('--standby: the next generation started ahead of the handoff', () => {
  /** Wait for the log line of `owner`'s standby, number `n` in the log (1-based), and return its PID. */
  async function standbyOf(logfile: string, owner: number, n = 1): Promise<number> {
    const re = new RegExp(`forkover\\[${owner}\\]: standby PID (\\d+) started for the next handoff`, 'g');
    const pid = await waitUntil(
      () => [...fs.readFileSync(logfile, 'utf8').matchAll(re)][n - 1]?.[1],
      15_000,
      () => `standby ${n} of PID ${owner} in ${logfile}:\n${fs.readFileSync(logfile, 'utf8')}`,
    );
    track(Number(pid));
    return Number(pid);
  }

  async function info(port: number) {
    return JSON.parse((await get(port, '/info')).body) as { pid: number; argv: string[]; execArgv: string[]; cwd: string; forkoverEnv: string[]; fds: number };
  }

  test('a handoff uses the waiting process, which runs the app exactly as a cold start would', async () => {
    const dir = tmpdir();
    const d = await startDaemon(dir, ['--standby'], APP);
    /** What `pid` answers on /info, once it is the one that answers. */
    const infoFrom = (pid: number) =>
      waitUntil(
        async () => {
          const i = await info(d.port);
          return i.pid === pid ? i : undefined;
        },
        5_000,
        `PID ${pid} to answer`,
      );
    let gen = d.pid;
    let sb = await standbyOf(d.logfile, gen);
    // Each generation is compared once its own standby runs, so both hold its channels.
    const cold = await infoFrom(gen);
    for (let i = 0; i < 3; i++) {
      expect(childrenOf(gen)).toContain(sb);
      const st = await cli(['status', '-p', d.pidfile]);
      expect(st.stdout).toContain(`standby: PID ${sb}, waiting for the next handoff`);
      expect(JSON.parse((await cli(['status', '-p', d.pidfile, '--json'])).stdout).standby.pid).toBe(sb);
      const r = await cli(['reload', '-p', d.pidfile]);
      expect(r.code).toBe(0);
      expect(readPid(d.pidfile)).toBe(sb);
      // The old generation logs it once its successor is ready: a moment after reload may see that.
      const used = `forkover[${gen}]: handoff ${i + 1}: used standby PID ${sb}`;
      await waitUntil(() => fs.readFileSync(d.logfile, 'utf8').includes(used), 10_000, () => `"${used}" in:\n${fs.readFileSync(d.logfile, 'utf8')}`);
      // Until it has read its parent's EOF, a successor still holds its readiness channel
      // to it: one fd that a cold start, whose launcher is long gone, does not have. The
      // EOF comes once the parent exits, and is read in the successor's own time (on a
      // loaded machine after a request that came in later), so the count settles then.
      const parent = gen;
      await waitUntil(() => !alive(parent), 15_000, `the old generation ${parent} to exit`);
      gen = sb;
      sb = await standbyOf(d.logfile, gen);
      // Same command line as the first generation (our --import is gone from execArgv,
      // so the app's fork() and the next handoff do not inherit it), same cwd, none of
      // forkover's variables left (R1.6), no fd more (R1.4: the go channel is closed).
      let last: Awaited<ReturnType<typeof info>> | undefined;
      const now = await waitUntil(
        async () => {
          last = await infoFrom(gen);
          return last.fds <= cold.fds ? last : undefined;
        },
        5_000,
        () => `PID ${gen} to hold no more fds than the cold start's ${cold.fds} (it holds ${last?.fds})`,
      );
      expect(now.argv).toEqual(cold.argv);
      expect(now.execArgv).toEqual(cold.execArgv);
      expect(now.cwd).toBe('/');
      expect(now.forkoverEnv).toEqual([]);
      expect(now.fds).toBeLessThanOrEqual(cold.fds);
      expect(fs.readlinkSync(`/proc/${gen}/fd/1`)).toBe(d.logfile);
    }
  });

  test('a rotated log or a dead standby: the handoff starts cold and succeeds', async () => {
    const dir = tmpdir();
    const d = await startDaemon(dir, ['--standby'], APP);
    const sb1 = await standbyOf(d.logfile, d.pid);
    // Rotated (R8.2a): the standby holds the old file open; only a cold start opens the new one.
    fs.renameSync(d.logfile, `${d.logfile}.1`);
    const r = await cli(['reload', '-p', d.pidfile]);
    expect(r.code).toBe(0);
    const g2 = readPid(d.pidfile)!;
    track(g2);
    expect(g2).not.toBe(sb1);
    await waitUntil(() => !alive(sb1), 10_000, `discarded standby ${sb1} to exit`);
    expect(fs.readFileSync(`${d.logfile}.1`, 'utf8')).toMatch(new RegExp(`discarded standby PID ${sb1}: ${d.logfile} was rotated or removed since it started`));
    expect(fs.readlinkSync(`/proc/${g2}/fd/1`)).toBe(d.logfile);

    // Killed while it waits: logged, and the next handoff starts cold.
    const sb2 = await standbyOf(d.logfile, g2);
    process.kill(sb2, 'SIGKILL');
    await waitUntil(() => fs.readFileSync(d.logfile, 'utf8').includes(`standby PID ${sb2} was killed by SIGKILL while waiting; the next handoff starts cold`), 10_000, 'the standby\'s death in the log');
    expect(JSON.parse((await cli(['status', '-p', d.pidfile, '--json'])).stdout).standby).toBeNull();
    const r2 = await cli(['reload', '-p', d.pidfile]);
    expect(r2.code).toBe(0);
    const g3 = readPid(d.pidfile)!;
    track(g3);
    expect([g2, sb2]).not.toContain(g3);
    expect((await get(d.port)).body).toBe(`hello from ${g3}\n`);
  });

  test('a new version that throws rolls back from a standby too; a fresh standby then serves the retry', async () => {
    const dir = tmpdir();
    const modeFile = path.join(dir, 'mode');
    const d = await startDaemon(dir, ['--standby', '--mode-file', modeFile], APP);
    const sb1 = await standbyOf(d.logfile, d.pid);
    // The standby reads the mode file only once it is activated: the app has not loaded yet.
    fs.writeFileSync(modeFile, 'throw');
    const r = await cli(['reload', '-p', d.pidfile]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`rolled-back: new process ${sb1} failed to start (Error: fixture: boom before listening)`);
    expect(readPid(d.pidfile)).toBe(d.pid);
    expect((await get(d.port)).body).toBe(`hello from ${d.pid}\n`);
    const sb2 = await standbyOf(d.logfile, d.pid, 2);
    expect(sb2).not.toBe(sb1);
    fs.writeFileSync(modeFile, 'ok');
    const r2 = await cli(['reload', '-p', d.pidfile]);
    expect(r2.code).toBe(0);
    expect(readPid(d.pidfile)).toBe(sb2);
  });

  test('standby: "yes" from code is refused with the fix, before anything starts', async () => {
    const dir = tmpdir();
    const script = path.join(dir, 'bad.mjs');
    fs.writeFileSync(script, `import { forkover } from ${JSON.stringify(path.join(ROOT, 'dist/index.js'))};\nawait forkover({ standby: 'yes' });\n`);
    const r = await node(script, [], { cwd: dir });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('--standby is on or off (true or false), not "yes"');
  });

  test('stop ends the waiting standby with the daemon: nothing is left running', async () => {
    const dir = tmpdir();
    const d = await startDaemon(dir, ['--standby'], APP);
    const sb = await standbyOf(d.logfile, d.pid);
    const r = await cli(['stop', '-p', d.pidfile]);
    expect(r.code).toBe(0);
    await waitUntil(() => !alive(d.pid) && !alive(sb), 10_000, `daemon ${d.pid} and standby ${sb} to exit`);
    expect(fs.existsSync(d.pidfile)).toBe(false);
  });
});

describe('foreground handoff', () => {
  test('as PID 1 (a container init), forkover stays resident and USR2 hands over to a new generation; TERM exits 0 (issue 15)', async () => {
    const dir = tmpdir();
    // A new PID namespace makes the app PID 1 there; unshare forks it as its child. The
    // real-container version, under load, is test/integration/containers.test.ts.
    const ns = start('unshare', ['--pid', '--fork', '--mount-proc', process.execPath, APP, '--port', '0', '--host', '127.0.0.1'], { cwd: dir });
    const port = Number((await waitForOutput(ns, /listening on 127\.0\.0\.1:(\d+)/))[1]);
    const first = Number((await waitForOutput(ns, /generation PID (\d+) serves/))[1]);
    expect(first).not.toBe(1); // PID 1 runs no app code: the generation is its child
    expect((await get(port)).body).toBe(`hello from ${first}\n`);
    const hostPid = await waitUntil(() => childrenOf(ns.pid!)[0], 5_000, 'the namespaced init');
    track(hostPid);
    process.kill(hostPid, 'SIGUSR2');
    const next = Number((await waitForOutput(ns, /generation PID (\d+) serves; PID \d+ drains/))[1]);
    await waitForOutput(ns, new RegExp(`generation PID ${first} exited with code 0`));
    expect((await get(port)).body).toBe(`hello from ${next}\n`);
    const exited = new Promise<number | null>((r) => ns.once('exit', (c) => r(c)));
    process.kill(hostPid, 'SIGTERM');
    expect(await exited).toBe(0);
    expect(ns.output()).toContain('exiting with status 0');
  });

  test('with -p the new generation takes over and the pidfile follows it', async () => {
    const dir = tmpdir();
    const pidfile = path.join(dir, 'fg.pid');
    const fg = start(process.execPath, [APP, '--port', '0', '--host', '127.0.0.1', '-p', pidfile], { cwd: dir });
    const port = Number((await waitForOutput(fg, /listening on 127\.0\.0\.1:(\d+)/))[1]);
    const exited = new Promise<number | null>((r) => fg.once('exit', (c) => r(c)));
    const g2 = await handoff(pidfile);
    expect(await exited).toBe(0);
    expect((await get(port)).body).toBe(`hello from ${g2}\n`);
    expect((await cli(['stop', '-p', pidfile])).code).toBe(0);
    expect(alive(g2)).toBe(false);
  });
});
