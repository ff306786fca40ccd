// Issue 4: `forkover init-script` argument validation (exit 2, a message naming the flag,
// nothing on stdout) and what each renderer writes, checked by running the generated sh
// for real where quoting matters. Also: the files shipped in init-scripts/ are exactly
// the generator's output. Contracts cited per test.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { main } from '../../src/cli.js';
import { INIT_SCRIPT_KINDS, buildSpec, formatRendered, renderInitScript } from '../../src/init-scripts/index.js';
import { shq } from '../../src/init-scripts/shell.js';
import { ROOT, cleanup, node, readPid, run, tmpdir } from '../helpers/util.js';

afterEach(cleanup);

async function cliRun(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(['init-script', ...argv], { out: (t) => (out += t), err: (t) => (err += t), cwd: '/' });
  return { code, out, err };
}

const NODE = '/usr/bin/node';
const APP = ['--', NODE, '/srv/app/server.js', '--port', '8080'];

describe('bad arguments: exit 2, the flag named, nothing printed on stdout', () => {
  test.each([
    ['no --name', ['sysv', ...APP], /--name/],
    ['a --name longer than 15 characters (R6.4)', ['sysv', '--name', 'a-very-long-name-x', ...APP], /--name.*15/],
    ['a --name with a slash', ['sysv', '--name', 'a/b', ...APP], /--name/],
    ['an unknown kind', ['upstart', '--name', 'hello', ...APP], /<kind>.*upstart.*sysv/],
    ['a relative --pidfile', ['sysv', '--name', 'hello', '--pidfile', 'run/hello.pid', ...APP], /--pidfile.*absolute/],
    ['a --pidfile with a space', ['openrc', '--name', 'hello', '--pidfile', '/run/my app/x.pid', ...APP], /--pidfile/],
    ['a relative --logfile', ['sysv', '--name', 'hello', '--logfile', 'hello.log', ...APP], /--logfile.*absolute/],
    ['--listen outside systemd-socket', ['sysv', '--name', 'hello', '--listen', '8080', ...APP], /--listen.*systemd-socket/],
    ['--group without --user', ['sysv', '--name', 'hello', '--group', 'www', ...APP], /--group.*--user/],
    ['a bad --user', ['openrc', '--name', 'hello', '--user', 'no body', ...APP], /--user/],
    ['--user with a pidfile directly in /run (R10.4)', ['sysv', '--name', 'hello', '--user', 'www-data', '--pidfile', '/run/hello.pid', ...APP], /--pidfile.*R10\.4/],
    ['logrotate --user without --group (su needs it, R8.3)', ['logrotate', '--name', 'hello', '--user', 'hello', '--logfile', '/var/log/hello/hello.log', ...APP], /--group.*required.*su hello/],
    ['--daemon in the app command', ['systemd-notify', '--name', 'hello', '--', NODE, '/srv/app.js', '--daemon'], /<command>.*--daemon/],
    ['a pidfile in the app command', ['sysv', '--name', 'hello', '--', NODE, '/srv/app.js', '--pidfile=/run/x.pid'], /<command>.*--pidfile.*give --pidfile to init-script/],
    ['no command', ['sysv', '--name', 'hello'], /<command>.*after "--"/],
    ['a relative program', ['sysv', '--name', 'hello', '--', 'node', 'server.js'], /<command>.*absolute/],
    ['an app flag without "--"', ['sysv', '--name', 'hello', NODE, 'server.js', '--port', '8080'], /--port/],
    ['a bad --drain-timeout in the app command (issue 16.7)', ['sysv', '--name', 'hello', '--', NODE, '/srv/app.js', '--drain-timeout', 'soon'], /<command>.*--drain-timeout.*"soon"/],
    ['a --drain-timeout of 0 in the app command', ['systemd', '--name', 'hello', '--', NODE, '/srv/app.js', '--drain-timeout=0'], /<command>.*--drain-timeout.*greater than 0/],
    ['a negative --stop-delay in the app command', ['openrc', '--name', 'hello', '--', NODE, '/srv/app.js', '--stop-delay', '-1'], /<command>.*--stop-delay.*0 or more/],
  ])('%s', async (_what, argv, message) => {
    const r = await cliRun(argv);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    expect(r.out).toBe('');
  });
});

describe('rendering', () => {
  test('the pidfile defaults to /run/<name>/<name>.pid; one file prints as is', async () => {
    const r = await cliRun(['sysv', '--name', 'hello', ...APP]);
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    expect(r.out.startsWith('#!/bin/sh\n')).toBe(true);
    expect(r.out).toContain('PIDFILE=/run/hello/hello.pid\n');
    // forkover's CLI is this package's bin/forkover.js, run by the app's node.
    expect(r.out).toContain(`forkover() { ${NODE} ${path.join(ROOT, 'bin/forkover.js')} "$@"; }`);
  });

  test('sysv: start-stop-daemon with --oknodo, pidfile + --name (+ --user), never --exec (R6.3–R6.5, R10.4)', async () => {
    const plain = (await cliRun(['sysv', '--name', 'hello', ...APP])).out;
    expect(plain).not.toMatch(/^[^#]*--exec/m);
    expect(plain).toMatch(/start-stop-daemon --start --oknodo \\\n\t\t--pidfile "\$PIDFILE" --name "\$NAME" \\\n\t\t--startas "\$DAEMON" --/);
    expect(plain).toContain('start-stop-daemon --stop --oknodo --retry=TERM/40/KILL/5 --pidfile "$PIDFILE" --name "$NAME"\n');
    expect(plain).not.toMatch(/^[^#]*(--background|--make-pidfile|--chuid)/m);
    expect(plain).toContain('forkover reload -p "$PIDFILE"');
    for (const action of ['start)', 'stop)', 'restart)', 'try-restart)', 'reload)', 'force-reload)', 'status)']) expect(plain).toContain(`\n${action}\n`);

    const user = (await cliRun(['sysv', '--name', 'hello', '--user', 'www-data', '--group', 'www', ...APP])).out;
    expect(user).toContain('--pidfile "$PIDFILE" --name "$NAME" --user "$RUN_AS_USER"');
    expect(user).toContain('--user "$RUN_AS_USER" --group "$RUN_AS_GROUP"'); // the app's own privilege drop (issue 5)
    expect(user).toContain('install -d -m 0755 -o "$RUN_AS_USER" -g "$RUN_AS_GROUP" "$1"');
    expect(user).not.toMatch(/^[^#]*--chuid/m);
  });

  test('openrc: command_args with --daemon -p, no command_background, reload, retry, checkpath (R7.1, R7.4)', async () => {
    const r = (await cliRun(['openrc', '--name', 'hello', '--user', 'www-data', ...APP])).out;
    expect(r.startsWith('#!/sbin/openrc-run\n')).toBe(true);
    expect(r).toContain(`command=${NODE}\n`);
    expect(r).toContain('command_args="/srv/app/server.js --port 8080 --daemon -p ${pidfile} --name ${procname} -l ${logfile} --user www-data"\n');
    expect(r).not.toMatch(/^\s*command_background=/m);
    expect(r).not.toMatch(/^\s*command_user=/m);
    expect(r).toContain('extra_started_commands="reload"\n');
    expect(r).toContain('retry="TERM/40/KILL/5"\n');
    expect(r).toContain('checkpath --directory --mode 0755 --owner www-data "${pidfile%/*}" "${logfile%/*}"');
    expect(r).toMatch(/reload\(\) \{\n\tebegin "Reloading \$\{name\}"\n(\t#.*\n)*\t_forkover reload -p "\$\{pidfile\}"\n\teend \$\?/);
    expect(r).not.toMatch(/^[^#]*--exec/m);
    // No checkpath on a shared directory: it would chown or chmod /run.
    const shared = (await cliRun(['openrc', '--name', 'hello', '--pidfile', '/run/hello.pid', '--logfile', '/var/log/hello.log', ...APP])).out;
    expect(shared).not.toContain('checkpath');
  });

  test('logrotate: create, sharedscripts, delaycompress, missingok, postrotate reload; su with --user (R8.2a, R8.3)', async () => {
    const r = (await cliRun(['logrotate', '--name', 'hello', '--logfile', '/var/log/hello/hello.log', ...APP])).out;
    expect(r).toMatch(/^\/var\/log\/hello\/hello\.log \{$/m);
    for (const d of ['create 0640 root root', 'sharedscripts', 'delaycompress', 'missingok', 'postrotate', 'endscript']) expect(r).toMatch(new RegExp(`^\\t${d}$`, 'm'));
    expect(r).toContain(`${NODE} ${path.join(ROOT, 'bin/forkover.js')} reload -p /run/hello/hello.pid >/dev/null || [ $? -eq 7 ]`);
    expect(r).not.toMatch(/^\s*(copytruncate|su )/m);
    const u = (await cliRun(['logrotate', '--name', 'hello', '--user', 'hello', '--group', 'daemon', '--logfile', '/var/log/hello/hello.log', ...APP])).out;
    expect(u).toMatch(/^\tcreate 0640 hello daemon$/m);
    expect(u).toMatch(/^\tsu hello daemon$/m);
    // A log directly in /var/log: root's directory, so root rotates (no su); the new file is the user's.
    const shared = (await cliRun(['logrotate', '--name', 'hello', '--user', 'hello', '--logfile', '/var/log/hello.log', ...APP])).out;
    expect(shared).toMatch(/^\tcreate 0640 hello$/m);
    expect(shared).not.toMatch(/^\s*su /m);
  });

  test('systemd-socket prints its two files, each after a header naming it', async () => {
    const r = await cliRun(['systemd-socket', '--name', 'hello', '--listen', '8080', ...APP]);
    expect(r.code).toBe(0);
    expect(r.out.match(/^# ==> .* <==$/gm)).toEqual(['# ==> hello.socket <==', '# ==> hello.service <==']);
  });
});

describe('quoting survives the real sh', () => {
  const nasty = ['/srv/my app/server.js', "it's", '"double"', '$HOME', '`id`', 'a\\b', '*', '', '--flag=a b'];

  test('shq round-trips through sh', async () => {
    const r = await run('/bin/sh', ['-c', `printf '%s\\0' ${nasty.map(shq).join(' ')}`]);
    expect(r.stdout.split('\0').slice(0, -1)).toEqual(nasty);
  });

  test('openrc: command_args, as OpenRC evals it, gives back the app words and forkover flags', async () => {
    const files = await renderInitScript(buildSpec('openrc', { name: 'hello', logfile: '/var/log/h.log' }, [NODE, ...nasty], '/opt/forkover/bin/forkover.js'));
    const line = /^command_args=.*$/m.exec(files[0]!.content)![0];
    const r = await run('/bin/sh', ['-c', `pidfile=/run/hello/hello.pid; procname=hello; logfile=/var/log/h.log; ${line}\neval "set -- $command_args"; printf '%s\\0' "$@"`]);
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\0').slice(0, -1)).toEqual([...nasty, '--daemon', '-p', '/run/hello/hello.pid', '--name', 'hello', '-l', '/var/log/h.log']);
  });

  test('sysv: start hands start-stop-daemon the app words unchanged, then forkover\'s flags', async () => {
    // The real script, with a recording start-stop-daemon first on its PATH.
    const dir = tmpdir();
    const bin = path.join(dir, 'bin');
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, 'start-stop-daemon'), `#!/bin/sh\nprintf '%s\\0' "$@" > ${shq(path.join(dir, 'argv'))}\n`, { mode: 0o755 });
    const pidfile = path.join(dir, 'run', 'hello.pid');
    const logfile = path.join(dir, 'log', 'hello.log');
    const files = await renderInitScript(buildSpec('sysv', { name: 'hello', pidfile, logfile }, [NODE, ...nasty], '/opt/forkover/bin/forkover.js'));
    const script = path.join(dir, 'hello');
    fs.writeFileSync(script, files[0]!.content.replace('\nPATH=/sbin:', `\nPATH=${bin}:/sbin:`));
    const r = await run('/bin/sh', [script, 'start'], { env: {} });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    const argv = fs.readFileSync(path.join(dir, 'argv'), 'utf8').split('\0').slice(0, -1);
    expect(argv).toEqual([
      '--start', '--oknodo', '--pidfile', pidfile, '--name', 'hello', '--startas', NODE, '--',
      ...nasty, '--daemon', '-p', pidfile, '--name', 'hello', '-l', logfile,
    ]);
    expect(fs.statSync(path.dirname(pidfile)).mode & 0o777).toBe(0o755); // made by the script
    expect(fs.statSync(path.dirname(logfile)).mode & 0o777).toBe(0o755);
    expect(readPid(pidfile)).toBeUndefined();
  });
});

test('init-scripts/ holds exactly the generator output (node scripts/init-scripts.mjs --check)', async () => {
  const r = await node(path.join(ROOT, 'scripts/init-scripts.mjs'), ['--check'], { cwd: ROOT });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  // And the check itself can fail: the shipped sysv script is what the CLI prints for hello.
  const spec = buildSpec('sysv', { name: 'hello', logfile: '/var/log/hello/hello.log' }, ['/usr/bin/node', '/usr/local/lib/node_modules/forkover/examples/hello.js', '--port', '8080'], '/usr/local/lib/node_modules/forkover/bin/forkover.js');
  expect(fs.readFileSync(path.join(ROOT, 'init-scripts/sysv/hello'), 'utf8')).toBe(formatRendered(await renderInitScript(spec)));
});

// Issue 14: `--start` launches an app that imports nothing of forkover through
// `forkover start [flags] -- <command>`; the words after the command's "--" are the app's.
describe('--start: the app run by forkover start', () => {
  const BIN = path.join(ROOT, 'bin/forkover.js');
  // Words that are forkover flags too: under --start they are the app's own.
  const OWN = ['--name', 'own', '-p', '/x.pid', '--daemon'];

  test.each([
    ['forkover start flags without the "--" that ends them', ['sysv', '--start', '--name', 'hello', '--', '--workers', '2', NODE, '/srv/app.js'], /<command>.*end with "--"/],
    ['an unknown forkover start flag', ['sysv', '--start', '--name', 'hello', '--', '--wrokers', '2', '--', NODE, '/srv/app.js'], /<command>.*unknown option '--wrokers'/],
    ['a bad --listeners', ['systemd', '--start', '--name', 'hello', '--', '--listeners', '0', '--', NODE, '/srv/app.js'], /<command>.*--listeners.*at least 1/],
    ['--daemon among them (the script sets it)', ['systemd-notify', '--start', '--name', 'hello', '--', '--daemon', '--', NODE, '/srv/app.js'], /<command>.*leave --daemon out/],
    ['-p among them', ['sysv', '--start', '--name', 'hello', '--', '-p', '/run/x.pid', '--', NODE, '/srv/app.js'], /<command>.*leave --pidfile out.*give --pidfile to init-script/],
    ['--name among them', ['openrc', '--start', '--name', 'hello', '--', '--name', 'x', '--', NODE, '/srv/app.js'], /<command>.*leave --name out/],
    ['a word that is not a flag before "--"', ['sysv', '--start', '--name', 'hello', '--', '--standby', 'yes', '--', NODE, '/srv/app.js'], /<command>.*"yes" is not a flag/],
    ['no command after the flags', ['sysv', '--start', '--name', 'hello', '--', '--workers', '2', '--'], /<command>.*missing/],
    ['a relative program', ['sysv', '--start', '--name', 'hello', '--', 'node', 'app.js'], /<command>.*absolute/],
  ])('bad arguments: %s (exit 2, nothing printed)', async (_what, argv, message) => {
    const r = await cliRun(argv);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    expect(r.out).toBe('');
  });

  test('the app\'s own words are not checked against forkover\'s flags (they would be without --start)', async () => {
    expect((await cliRun(['sysv', '--name', 'hello', '--', NODE, '/srv/app.js', ...OWN])).code).toBe(2);
    const r = await cliRun(['sysv', '--start', '--name', 'hello', '--', NODE, '/srv/app.js', ...OWN]);
    expect({ code: r.code, err: r.err }).toEqual({ code: 0, err: '' });
    expect(r.out).toContain(`-- ${NODE} /srv/app.js --name own -p /x.pid --daemon\n`);
  });

  test('sysv: start-stop-daemon execs the node, which runs forkover start; then "--" and the app words, unchanged (R6.3)', async () => {
    const dir = tmpdir();
    const bin = path.join(dir, 'bin');
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, 'start-stop-daemon'), `#!/bin/sh\nprintf '%s\\0' "$@" > ${shq(path.join(dir, 'argv'))}\n`, { mode: 0o755 });
    const pidfile = path.join(dir, 'run', 'hello.pid');
    const app = [NODE, '/srv/my app/server.js', "it's", '$HOME', '', ...OWN];
    const spec = buildSpec('sysv', { name: 'hello', pidfile, logfile: '/var/log/h/h.log', start: true }, ['--workers', '2', '--standby', '--', ...app], '/opt/forkover/bin/forkover.js');
    const text = formatRendered(await renderInitScript(spec));
    expect(text).toContain(`# hello: LSB init script generated by \`forkover init-script sysv --start\`.`);
    expect(text).toContain(`DAEMON=${NODE}\n`);
    expect(text).toContain(`forkover() { ${NODE} /opt/forkover/bin/forkover.js "$@"; }`); // absolute node (no PATH lookup)
    expect(text).not.toMatch(/^[^#]*--exec/m); // pidfile + --name, never the node binary (R6.4)
    const script = path.join(dir, 'hello');
    fs.writeFileSync(script, text.replace('\nPATH=/sbin:', `\nPATH=${bin}:/sbin:`));
    const r = await run('/bin/sh', [script, 'start'], { env: {} });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(fs.readFileSync(path.join(dir, 'argv'), 'utf8').split('\0').slice(0, -1)).toEqual([
      '--start', '--oknodo', '--pidfile', pidfile, '--name', 'hello', '--startas', NODE, '--',
      '/opt/forkover/bin/forkover.js', 'start', '--daemon', '-p', pidfile, '--name', 'hello', '-l', '/var/log/h/h.log',
      '--workers', '2', '--standby', '--', ...app,
    ]);
  });

  test('openrc: command is the node; command_args, as OpenRC evals it, is forkover start, its flags, "--", the app words (R7.1)', async () => {
    const app = [NODE, '/srv/my app/server.js', '"double"', '`id`', 'a\\b', ...OWN];
    const spec = buildSpec('openrc', { name: 'hello', user: 'www-data', start: true }, app, '/opt/forkover/bin/forkover.js');
    const [f] = await renderInitScript(spec);
    expect(f!.content).toContain(`\ncommand=${NODE}\n`);
    expect(f!.content).not.toMatch(/^\s*command_(background|user)=/m);
    expect(f!.content).toContain(`_forkover() { ${NODE} /opt/forkover/bin/forkover.js "$@"; }`);
    const line = /^command_args=.*$/m.exec(f!.content)![0];
    const r = await run('/bin/sh', ['-c', `pidfile=/run/hello/hello.pid; procname=hello; logfile=/var/log/hello/hello.log; ${line}\neval "set -- $command_args"; printf '%s\\0' "$@"`]);
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\0').slice(0, -1)).toEqual([
      '/opt/forkover/bin/forkover.js', 'start', '--daemon', '-p', '/run/hello/hello.pid', '--name', 'hello', '-l', '/var/log/hello/hello.log', '--user', 'www-data', '--', ...app,
    ]);
  });

  test('a script as the program: forkover start runs with the given node (absolute), the script is the command', async () => {
    const spec = buildSpec('systemd', { name: 'hello', start: true }, ['/srv/app/server.js', '--port', '8080'], '/opt/forkover/bin/forkover.js', '/opt/node/bin/node');
    expect(spec.start).toEqual({ node: '/opt/node/bin/node', flags: [] });
    const [f] = await renderInitScript(spec);
    expect(f!.content).toMatch(/^ExecStart=\/opt\/node\/bin\/node \/opt\/forkover\/bin\/forkover\.js start --daemon -p \/run\/hello\/hello\.pid --name hello -l \/var\/log\/hello\/hello\.log -- \/srv\/app\/server\.js --port 8080$/m);
    // The app's own node runs forkover when the program is one: the app then runs in that process.
    expect(buildSpec('sysv', { name: 'hello', start: true }, ['/usr/local/bin/node22', '/srv/a.js'], '/f.js', '/opt/node/bin/node').start?.node).toBe('/usr/local/bin/node22');
  });

  test('logrotate: the postrotate reload runs forkover with the absolute node too', async () => {
    const spec = buildSpec('logrotate', { name: 'hello', logfile: '/var/log/hello/hello.log', start: true }, ['/srv/app/server.js'], '/opt/forkover/bin/forkover.js', '/opt/node/bin/node');
    expect((await renderInitScript(spec))[0]!.content).toContain('/opt/node/bin/node /opt/forkover/bin/forkover.js reload -p /run/hello/hello.pid');
  });
});

test('README "Init scripts for an unmodified app" shows exactly what init-script systemd --start prints (issue 14, item 5)', async () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = /^### Init scripts for an unmodified app\n([\s\S]*?)(?=^#{2,3} )/m.exec(readme)?.[1] ?? '';
  const command = /```sh\nforkover init-script (systemd --start .*)\n```/.exec(section)?.[1];
  const shown = /```ini\n([\s\S]*?)```/.exec(section)?.[1];
  expect(command).toBe('systemd --start --name web -- /usr/bin/node /srv/app/server.js --port 3000');
  // As installed with npm (the paths the README shows), from the command's own words.
  const words = command!.split(' ');
  const spec = buildSpec(words[0], { name: words[3], start: true }, words.slice(5), '/usr/local/lib/node_modules/forkover/bin/forkover.js', '/usr/bin/node');
  expect(shown).toBe(formatRendered(await renderInitScript(spec)));
});

// Issue 16.2, 16.3, 16.7: what every kind says about the app's output, which node and
// which forkover it runs, and how long a stop may take before SIGKILL.
describe('issue 16: output, absolute paths and stop deadlines, for every kind', () => {
  const BIN = fs.realpathSync(path.join(ROOT, 'bin/forkover.js'));
  const LOG = '/var/log/hello/hello.log';
  const flagsOf = (kind: string) => ['--name', 'hello', ...(kind === 'systemd-socket' ? ['--listen', '8080'] : [])];
  async function generate(kind: string, extra: string[] = [], app: string[] = APP): Promise<string> {
    const r = await cliRun([kind, ...flagsOf(kind), ...extra, ...app]);
    expect({ code: r.code, err: r.err }).toEqual({ code: 0, err: '' });
    return r.out;
  }
  /** The lines an init system, sh or logrotate acts on (not comments). */
  const code = (text: string) => text.split('\n').filter((l) => !/^\s*#/.test(l));
  /** The command a comment gives after `intro` (the next comment line, "#   forkover …"), as argv. */
  function commentedCommand(text: string, intro: RegExp): string[] {
    const lines = text.split('\n');
    const at = lines.findIndex((l) => intro.test(l));
    expect(at).toBeGreaterThanOrEqual(0);
    const m = /^#\s+forkover init-script (.*)$/.exec(lines[at + 1]!);
    expect(m).not.toBeNull();
    return m![1]!.split(' '); // the words of these tests need no quoting
  }

  test.each(INIT_SCRIPT_KINDS)('%s: the app\'s output has a destination without --logfile, and the comments say which (16.2)', async (kind) => {
    const text = await generate(kind);
    const lines = code(text);
    if (kind === 'systemd-notify' || kind === 'systemd-socket') {
      // Foreground: the journal, explicitly, for every generation (handoffs inherit stdout).
      expect(lines).toEqual(expect.arrayContaining(['StandardOutput=journal', 'StandardError=inherit']));
      expect(text).toMatch(/^# The app's stdout and stderr go to the journal \(journalctl -u hello\.service\)/m);
      expect(lines.find((l) => l.startsWith('ExecStart='))).not.toMatch(/ -l /);
      return;
    }
    // A daemon has no terminal: a default file, named in a comment, made by the script.
    expect(text).toMatch(new RegExp(`^# .*${LOG.replace(/\./g, '\\.')}`, 'm'));
    if (kind === 'systemd') {
      expect(lines.find((l) => l.startsWith('ExecStart='))).toMatch(new RegExp(` -l ${LOG}$`));
      expect(lines).toContain('LogsDirectory=hello');
      expect(text).toMatch(/^# The app's stdout and stderr: \/var\/log\/hello\/hello\.log \(the default;$/m);
    } else if (kind === 'sysv') {
      expect(lines).toContain(`LOGFILE=${LOG}`);
      expect(lines).toContain('\t\t-l "$LOGFILE"');
      expect(lines).toContain('\tmake_dir "${LOGFILE%/*}" || return 1');
    } else if (kind === 'openrc') {
      expect(lines).toContain(`logfile=${LOG}`);
      expect(lines.find((l) => l.startsWith('command_args='))).toContain(' -l ${logfile}');
      expect(lines.find((l) => l.includes('checkpath'))).toContain('"${logfile%/*}"');
    } else {
      expect(lines).toContain(`${LOG} {`);
    }
    if (kind !== 'logrotate') {
      // The comment's logrotate command prints the snippet for this very file.
      const rotate = await cliRun(commentedCommand(text, /the snippet this prints/));
      expect({ code: rotate.code, err: rotate.err }).toEqual({ code: 0, err: '' });
      expect(rotate.out).toContain(`\n${LOG} {\n`);
    }
  });

  test.each(INIT_SCRIPT_KINDS)('%s: node and forkover by absolute paths resolved now, never through PATH; the comment that regenerates it does (16.3)', async (kind) => {
    // The app's own node runs forkover when the program is one; else the node running init-script.
    for (const [app, nodeUsed] of [[APP, NODE], [['--', '/srv/app/server', '--port', '8080'], process.execPath]] as const) {
      const text = await generate(kind, [], [...app]);
      const runs = code(text).filter((l) => l.includes(BIN));
      expect(runs.length).toBeGreaterThan(0);
      for (const l of runs) expect(l).toContain(`${nodeUsed} ${BIN}`);
      for (const l of code(text)) expect(l).not.toMatch(/\/env\b|(^|[\s"'=])node(\s|$)/);
      expect(text).toContain(`\n#   ${nodeUsed}\n#   ${BIN}\n`);
      const again = await cliRun(commentedCommand(text, /again with the forkover now installed/));
      expect({ code: again.code, err: again.err, same: again.out === text }).toEqual({ code: 0, err: '', same: true });
    }
  });

  test('a program that finds its node through PATH (#!/usr/bin/env node) is warned about, with the fix (16.3)', async () => {
    const script = path.join(tmpdir(), 'server.js');
    fs.writeFileSync(script, '#!/usr/bin/env node\nconsole.log("hi");\n', { mode: 0o755 });
    const r = await cliRun(['sysv', '--name', 'hello', '--', script, '--port', '8080']);
    expect(r.code).toBe(0);
    expect(r.err).toBe(`forkover init-script: warning: ${script} finds its node through PATH (#!/usr/bin/env node), which init systems set to a few system directories; give the node first: -- ${process.execPath} ${script} …`);
    expect(r.out.startsWith('#!/bin/sh\n')).toBe(true);
    // Not with the node given, nor with --start (forkover start runs the script with that node).
    expect((await cliRun(['sysv', '--name', 'hello', '--', process.execPath, script])).err).toBe('');
    expect((await cliRun(['sysv', '--start', '--name', 'hello', '--', script])).err).toBe('');
  });

  test.each([
    ['the default --drain-timeout', [], 30],
    ['--drain-timeout 60', ['--drain-timeout', '60'], 60],
    ['--drain-timeout=2.5, rounded up', ['--drain-timeout=2.5'], 3],
    ['--drain-timeout 45 --stop-delay 5', ['--drain-timeout', '45', '--stop-delay', '5'], 50],
    ['two --drain-timeout, the last wins', ['--drain-timeout', '90', '--drain-timeout', '20'], 20],
  ] as const)('every stop waits 10 s past the app\'s drain before SIGKILL, %s, in both forms (16.7)', async (_what, flags, drain) => {
    const term = drain + 10;
    const forms = [
      [...APP, ...flags], // forkover's flags among the app's words
      ['--start', '--', ...(flags.length > 0 ? [...flags, '--'] : []), NODE, '/srv/app/server.js'], // forkover start's flags
    ];
    for (const form of forms) {
      const sysv = await generate('sysv', [], form);
      expect(sysv).toContain(`\tstart-stop-daemon --stop --oknodo --retry=TERM/${term}/KILL/5 `);
      expect(sysv).toContain(`\tforkover stop -p "$PIDFILE" --timeout ${term} >/dev/null\n`);
      const openrc = await generate('openrc', [], form);
      expect(openrc).toContain(`\nretry="TERM/${term}/KILL/5"\n`);
      expect(openrc).toContain(`\t_forkover stop -p "\${pidfile}" --timeout ${term} >/dev/null\n`);
      for (const kind of ['systemd', 'systemd-notify', 'systemd-socket']) {
        const unit = code(await generate(kind, [], form));
        expect(unit.find((l) => l.startsWith('ExecStop='))).toMatch(new RegExp(` stop -p /run/hello/hello\\.pid --timeout ${term}$`));
        // Above ExecStop='s own bound: its SIGKILL comes at `term`, then it waits up to 5 s.
        expect(unit).toContain(`TimeoutStopSec=${term + 10}`);
      }
    }
  });
});
