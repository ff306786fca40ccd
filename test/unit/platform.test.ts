// Issue 7: platforms. Linux is tested for real everywhere else; here the two others are
// faked. Windows: every entry point (the library's forkover(), the CLI's main() and
// bin/forkover.js) refuses with UNSUPPORTED_PLATFORM and a fix, never a crash. macOS:
// no /proc, so process identity comes from `ps` (src/proc.ts); that path runs here on
// Linux, whose ps takes the same options, against the /proc answers. Contracts: R2.6
// (identity), R6.1/R6.2 (exit codes).
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { assertSupportedPlatform } from '../../src/forkover.js';
import { main } from '../../src/cli.js';
import { ForkoverError } from '../../src/errors.js';
import { readStat, selfIdentity, verify } from '../../src/proc.js';
import { CLI, HELLO, cleanup, node, tmpdir, waitUntil } from '../helpers/util.js';

afterEach(cleanup);

describe('Windows: UNSUPPORTED_PLATFORM from every entry point', () => {
  test('assertSupportedPlatform refuses win32 only', () => {
    expect(() => assertSupportedPlatform('linux')).not.toThrow();
    expect(() => assertSupportedPlatform('darwin')).not.toThrow();
    let caught: unknown;
    try {
      assertSupportedPlatform('win32');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ForkoverError);
    expect((caught as ForkoverError).code).toBe('UNSUPPORTED_PLATFORM');
    expect((caught as ForkoverError).message).toMatch(/Windows lacks.*WSL/);
  });

  test.each([
    ['status', 4], // LSB status: unknown (R6.2)
    ['stop', 3], // LSB action: unimplemented feature (R6.1)
    ['reload', 3],
  ])('cli main(%s) on win32 exits %i with the error, touching nothing', async (command, code) => {
    const dir = tmpdir();
    const err: string[] = [];
    const out: string[] = [];
    const io = { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t), cwd: dir, platform: 'win32' as const };
    expect(await main([command, '-p', 'app.pid'], io)).toBe(code);
    expect(out).toEqual([]);
    expect(err.join('')).toMatch(new RegExp(`^forkover ${command}: UNSUPPORTED_PLATFORM: .*WSL`));
    // The same call on Linux takes the normal path: no pidfile, so "not running".
    expect(await main(['status', '-p', 'app.pid'], { ...io, platform: 'linux' })).toBe(3);
  });

  /** Environment whose preload makes a real Node process believe it runs on Windows. */
  function fakeWindows(dir: string): NodeJS.ProcessEnv {
    const preload = path.join(dir, 'fake-win32.mjs');
    fs.writeFileSync(preload, "Object.defineProperty(process, 'platform', { value: 'win32' });\n");
    return { ...process.env, NODE_OPTIONS: `--import=${preload}` };
  }

  test('bin/forkover.js on (faked) Windows: exit 4 for status, a message and no stack trace', async () => {
    const dir = tmpdir();
    const r = await node(CLI, ['status', '-p', 'app.pid'], { cwd: dir, env: fakeWindows(dir) });
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/^forkover status: UNSUPPORTED_PLATFORM: forkover needs POSIX signals/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  test('an app calling forkover() on (faked) Windows exits 1 with the message, and starts nothing', async () => {
    const dir = tmpdir();
    const r = await node(HELLO, ['--port', '0', '--daemon', '-p', 'app.pid', '-l', 'app.log'], { cwd: dir, env: fakeWindows(dir) });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^hello\.js: forkover needs POSIX signals and file-descriptor passing, which Windows lacks; .*WSL/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(fs.existsSync(path.join(dir, 'app.pid'))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'app.log'))).toBe(false);
  });
});

describe('macOS: identity from ps where there is no /proc (R2.6)', () => {
  let child: ChildProcess | undefined;
  afterEach(() => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    child = undefined;
  });

  /** A process that sets a title, as a forkover daemon does, and announces it. */
  async function titled(title: string): Promise<number> {
    child = spawn(process.execPath, ['-e', `process.title = ${JSON.stringify(title)}; console.log('ready'); setInterval(() => {}, 1000);`], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout!.on('data', (c: Buffer) => (out += c));
    await waitUntil(() => out.includes('ready'), 10_000, 'the titled process');
    return child.pid!;
  }

  test('readStat via ps agrees with /proc on state, parent, group, session and title', async () => {
    const pid = await titled('fo-mac-path');
    const fromProc = readStat(pid, 'proc')!;
    const fromPs = readStat(pid, 'ps')!;
    expect(fromProc.comm).toBe('fo-mac-path');
    expect(fromPs).toMatchObject({ pid, ppid: fromProc.ppid, pgrp: fromProc.pgrp, session: fromProc.session, comm: 'fo-mac-path' });
    // The state may change between the two reads (R and S alternate); both say alive.
    expect(fromProc.state).toMatch(/^[RSD]$/);
    expect(fromPs.state).toMatch(/^[RSD]$/);
    // ps gives wall-clock start seconds: the process started moments ago.
    expect(Math.abs(fromPs.starttime - Date.now() / 1000)).toBeLessThan(30);
    expect(readStat(pid, 'ps')!.starttime).toBe(fromPs.starttime); // stable: an identity
  });

  test('verify via ps: ours, then foreign for another start time or title, then dead', async () => {
    const pid = await titled('fo-mac-verify');
    const starttime = readStat(pid, 'ps')!.starttime;
    expect(verify(pid, { pid, starttime, title: 'fo-mac-verify' }, 'ps').kind).toBe('ours');
    expect(verify(pid, { pid, starttime: starttime - 60, title: 'fo-mac-verify' }, 'ps')).toMatchObject({ kind: 'foreign', reason: expect.stringMatching(/reused/) });
    expect(verify(pid, { pid, starttime, title: 'other' }, 'ps').kind).toBe('foreign');
    const self = selfIdentity('jest', 'ps');
    expect(self.pid).toBe(process.pid);
    expect(self.starttime).toBeGreaterThan(1_000_000_000); // epoch seconds, not clock ticks
    const exited = new Promise((resolve) => child!.once('exit', resolve));
    child!.kill('SIGKILL');
    await exited;
    expect(verify(pid, { pid, starttime, title: 'fo-mac-verify' }, 'ps').kind).toBe('dead');
  });

  test('ps reports a missing PID as not running, not as an error', () => {
    // The largest PID Linux can hand out is below 2^22; this one is never in use.
    expect(readStat(2 ** 22 + 1, 'ps')).toBeUndefined();
    expect(os.platform()).toBe('linux'); // the faked path really ran on Linux
  });
});
