// How an app enters forkover, as a new user's app does (issue 16, items 1, 4, 5; issue
// 17, item 5): a commander program of another copy or major, an app that parses its own
// argv, and the launcher's exit codes for bad flags (2, R6.1) against the README's table.
import * as path from 'node:path';
import * as fs from 'node:fs';
import { HELLO, ROOT, cleanup, fixture, get, node, readPid, tmpdir, track } from '../helpers/util.js';

afterEach(cleanup);
const E = (n: string): string => fixture(`entry/${n}`);

/** Start `app` as a daemon in a new temp dir; its pid, port and launcher result. */
async function daemonize(app: string, args: string[]) {
  const dir = tmpdir();
  const pidfile = path.join(dir, 'app.pid');
  const r = await node(app, [...args, '--daemon', '-p', pidfile, '-l', path.join(dir, 'app.log')], { cwd: dir });
  const pid = readPid(pidfile);
  track(pid);
  const port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(r.stdout)?.[1]);
  return { r, pid, port, pidfile };
}

test('an app on another copy and major of commander (12): its flags are read, it daemonizes', async () => {
  const d = await daemonize(E('commander12.mjs'), ['--port', '0', '--name', 'c12app']);
  expect(d.r.stderr).toBe('');
  expect(d.r.code).toBe(0);
  expect(fs.readFileSync(`/proc/${d.pid}/comm`, 'utf8').trim()).toBe('c12app'); // --name reached forkover
  expect((await get(d.port)).body).toBe(`hello from ${d.pid}\n`);
});

test('forkover() without commander: the app keeps its own flags and --help; forkover reads its own', async () => {
  const d = await daemonize(E('own-argv.mjs'), ['--verbose', '--port', '0']);
  expect(d.r.stderr).toBe('');
  expect(d.r.code).toBe(0);
  expect((await get(d.port)).body).toBe(`hello from ${d.pid} (verbose)\n`);
  const help = await node(E('own-argv.mjs'), ['--help'], { cwd: tmpdir() });
  expect(help.code).toBe(0);
  expect(help.stdout).toBe('usage: own-argv.mjs [--verbose] [--port N] [forkover flags]\n');
});

test('forkover() given something that is neither a program nor options: exit 2, saying what to pass', async () => {
  const dir = tmpdir();
  const app = path.join(dir, 'bad.mjs');
  fs.writeFileSync(app, `import { forkover } from ${JSON.stringify(path.join(ROOT, 'dist/index.js'))};\nawait forkover('--daemon');\n`);
  const bad = await node(app, [], { cwd: dir });
  expect(bad.code).toBe(2);
  expect(bad.stderr).toMatch(/forkover\(\) takes the app's commander program \(after parse\(\)\), an options object .* not a string \(--daemon\)/);
});

describe('launcher exit codes for bad flags: 2, as the README says (R6.1)', () => {
  test.each([
    ['an unknown flag', ['--bogus'], /unknown option '--bogus'/],
    ['--drain-timeout -1', ['--drain-timeout', '-1'], /--drain-timeout takes a number of seconds greater than 0, not "-1"/],
    ['--workers 0', ['--workers', '0'], /--workers takes a whole number of at least 1, not "0"/],
    ['--daemon without -p', ['--daemon'], /--daemon needs -p\/--pidfile/],
    ['a --name over 15 characters', ['--name', 'a-name-far-too-long'], /--name must be 1 to 15 characters/],
    ['--port 70000 (examples/hello.js)', ['--port', '70000'], /--port takes a whole number from 0 to 65535, not "70000"/],
    ['--port abc', ['--port', 'abc'], /not "abc"/],
    ['--port -1', ['--port', '-1'], /not "-1"/],
    ['--port 1.5', ['--port', '1.5'], /not "1\.5"/],
    ["--port ''", ['--port', ''], /not ""/],
  ])('%s: exit 2, one line naming the flag, no stack trace', async (_n, args, re) => {
    const r = await node(HELLO, args, { cwd: tmpdir() });
    expect(r.stderr).toMatch(re);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.code).toBe(2);
  });

  test("an app's own exitOverride keeps its own code", async () => {
    const r = await node(E('own-exit.mjs'), ['--bogus'], { cwd: tmpdir() });
    expect(r.stderr).toMatch(/unknown option '--bogus'/);
    expect(r.code).toBe(64);
  });
});
