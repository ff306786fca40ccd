// The unit renderers (contracts R3.7, R4.1, R4.5, R4.6, R5.2). That systemd runs what
// they render is shown in test/integration/systemd.test.ts; here, what they must say.
import { quoteExecArg, renderSystemd, renderSystemdNotify, renderSystemdSocket } from '../../src/init-scripts/systemd.js';
import type { InitScriptSpec } from '../../src/init-scripts/types.js';

const spec = (over: Partial<InitScriptSpec> = {}): InitScriptSpec => ({
  kind: 'systemd',
  name: 'web',
  pidfile: '/run/web/web.pid',
  command: ['/usr/bin/node', '/srv/app/server.js', '--port', '8080'],
  forkoverBin: '/usr/local/lib/node_modules/forkover/bin/forkover.js',
  node: '/usr/bin/node',
  ...over,
});
const line = (content: string, key: string) => content.split('\n').filter((l) => l.startsWith(`${key}=`));

describe('quoteExecArg (systemd.service(5) command lines)', () => {
  test.each([
    ['plain', 'plain'],
    ['/a/b-c.js', '/a/b-c.js'],
    ['50%', '50%%'],
    ['$HOME', '$$HOME'],
    ['two words', '"two words"'],
    ['say "hi"', '"say \\"hi\\""'],
    ['back\\slash', '"back\\\\slash"'],
    ['', '""'],
  ])('%j -> %s', (arg, quoted) => expect(quoteExecArg(arg)).toBe(quoted));
  test('a line break cannot be expressed', () => expect(() => quoteExecArg('a\nb')).toThrow(/line break/));
});

test('Type=forking: PIDFile, --daemon -p --name, synchronous reload, restart, runtime dir (R3.7)', () => {
  const [f] = renderSystemd(spec({ logfile: '/var/log/web.log' }));
  expect(f!.filename).toBe('web.service');
  const c = f!.content;
  expect(line(c, 'Type')).toEqual(['Type=forking']);
  expect(line(c, 'PIDFile')).toEqual(['PIDFile=/run/web/web.pid']);
  expect(line(c, 'ExecStart')).toEqual(['ExecStart=/usr/bin/node /srv/app/server.js --port 8080 --daemon -p /run/web/web.pid --name web -l /var/log/web.log']);
  // The CLI by the absolute node, never its #!/usr/bin/env node line (issue 16.3).
  expect(line(c, 'ExecReload')).toEqual(['ExecReload=/usr/bin/node /usr/local/lib/node_modules/forkover/bin/forkover.js reload -p /run/web/web.pid']);
  // systemd would SIGKILL a main PID taken over from a handoff; forkover stop waits (systemd.test.ts),
  // 10 s past the default 30 s drain (issue 16.7).
  expect(line(c, 'ExecStop')).toEqual(['ExecStop=/usr/bin/node /usr/local/lib/node_modules/forkover/bin/forkover.js stop -p /run/web/web.pid --timeout 40']);
  expect(line(c, 'TimeoutStopSec')).toEqual(['TimeoutStopSec=50']);
  expect(line(c, 'LogsDirectory')).toEqual([]); // /var/log/web.log: no directory of its own
  expect(line(c, 'Restart')).toEqual(['Restart=on-failure']);
  expect(line(c, 'RuntimeDirectory')).toEqual(['RuntimeDirectory=web']);
  expect(line(c, 'User')).toEqual([]);
  // Every directive is explained: the line before each one is a comment.
  const lines = c.split('\n');
  for (const key of ['Type', 'PIDFile', 'ExecStart', 'ExecReload', 'ExecStop', 'Restart', 'RuntimeDirectory']) {
    expect(lines[lines.findIndex((l) => l.startsWith(`${key}=`)) - 1]).toMatch(/^#/);
  }
});

test('Type=notify: foreground, NotifyAccess=main, WatchdogSec, User= with its reason (R4.1, R4.5, R4.6)', () => {
  const [f] = renderSystemdNotify(spec({ kind: 'systemd-notify', user: 'www-data', group: 'www-data' }), { watchdogSec: 10 });
  const c = f!.content;
  expect(line(c, 'Type')).toEqual(['Type=notify']);
  expect(line(c, 'ExecStart')[0]).not.toContain('--daemon');
  expect(line(c, 'ExecStart')[0]).toContain('-p /run/web/web.pid --name web');
  expect(line(c, 'NotifyAccess')).toEqual(['NotifyAccess=main']);
  expect(line(c, 'WatchdogSec')).toEqual(['WatchdogSec=10']);
  expect(line(c, 'PIDFile')).toEqual([]);
  expect(line(c, 'ExecStop')).toEqual(['ExecStop=/usr/bin/node /usr/local/lib/node_modules/forkover/bin/forkover.js stop -p /run/web/web.pid --timeout 40']);
  expect(line(c, 'StandardOutput')).toEqual(['StandardOutput=journal']); // no logfile: the journal (issue 16.2)
  expect(line(c, 'User')).toEqual(['User=www-data']);
  expect(line(c, 'Group')).toEqual(['Group=www-data']);
  expect(c).toMatch(/# .*initgroups/);
});

test('socket pair: ListenStream, Accept=no, the service requires the socket (R5.2)', () => {
  const files = renderSystemdSocket(spec({ kind: 'systemd-socket', listen: '127.0.0.1:8080' }));
  expect(files.map((f) => f.filename)).toEqual(['web.socket', 'web.service']);
  const [sock, svc] = files.map((f) => f.content);
  expect(line(sock!, 'ListenStream')).toEqual(['ListenStream=127.0.0.1:8080']);
  expect(line(sock!, 'Accept')).toEqual(['Accept=no']);
  expect(line(svc!, 'Requires')).toEqual(['Requires=web.socket']);
  expect(line(svc!, 'Type')).toEqual(['Type=notify']);
});

test('bad input: errors that name the fix', () => {
  expect(() => renderSystemdSocket(spec({ kind: 'systemd-socket' }))).toThrow(/needs --listen ADDR/);
  expect(() => renderSystemd(spec({ command: ['node', 'app.js'] }))).toThrow(/absolute program path .* \/usr\/bin\/node/);
  expect(() => renderSystemd(spec({ command: [] }))).toThrow(/command is empty/);
});

// Issue 14: units for an app that imports nothing of forkover (`init-script --start`).
describe('--start: forkover start runs the app', () => {
  const start = (over: Partial<InitScriptSpec> = {}) => spec({ start: { node: '/usr/bin/node', flags: [] }, forkoverBin: '/opt/forkover/bin/forkover.js', ...over });

  test('Type=forking: ExecStart is node forkover.js start --daemon -p --name -- <command>; reload and stop by the same node (R3.7)', () => {
    const c = renderSystemd(start({ logfile: '/var/log/web.log', command: ['/usr/bin/node', '/srv/app/server.js', '--port', '8080', '--name', 'own'] }))[0]!.content;
    expect(line(c, 'Type')).toEqual(['Type=forking']);
    expect(line(c, 'PIDFile')).toEqual(['PIDFile=/run/web/web.pid']);
    expect(line(c, 'ExecStart')).toEqual([
      'ExecStart=/usr/bin/node /opt/forkover/bin/forkover.js start --daemon -p /run/web/web.pid --name web -l /var/log/web.log -- /usr/bin/node /srv/app/server.js --port 8080 --name own',
    ]);
    expect(line(c, 'ExecReload')).toEqual(['ExecReload=/usr/bin/node /opt/forkover/bin/forkover.js reload -p /run/web/web.pid']);
    expect(line(c, 'ExecStop')).toEqual(['ExecStop=/usr/bin/node /opt/forkover/bin/forkover.js stop -p /run/web/web.pid --timeout 40']);
    expect(c).toContain('# Generated by `forkover init-script systemd --start`.');
    expect(c).toMatch(/# The app imports nothing of forkover: `forkover start` runs its command/);
    const lines = c.split('\n');
    for (const key of ['Type', 'PIDFile', 'ExecStart', 'ExecReload', 'ExecStop']) expect(lines[lines.findIndex((l) => l.startsWith(`${key}=`)) - 1]).toMatch(/^#/);
  });

  test('Type=notify: foreground (no --daemon), forkover start\'s own flags before "--", systemd quoting of the app words (R4.1)', () => {
    const c = renderSystemdNotify(start({ kind: 'systemd-notify', start: { node: '/usr/bin/node', flags: ['--workers', '2'] }, command: ['/usr/bin/node', '/srv/app/server.js', 'two words', '50%'] }))[0]!.content;
    expect(line(c, 'Type')).toEqual(['Type=notify']);
    expect(line(c, 'NotifyAccess')).toEqual(['NotifyAccess=main']);
    expect(line(c, 'ExecStart')).toEqual(['ExecStart=/usr/bin/node /opt/forkover/bin/forkover.js start -p /run/web/web.pid --name web --workers 2 -- /usr/bin/node /srv/app/server.js "two words" 50%%']);
    expect(c).toMatch(/# It runs in this very process \(the PID systemd started\)/);
    expect(c).not.toMatch(/Node >= 22\.15/);
    expect(c).toMatch(/an unmodified app cannot register daemon\.onHealthCheck\(\)/);
  });

  test('Type=notify with Node options in the command: the unit says they need Node >= 22.15 in the foreground', () => {
    const c = renderSystemdNotify(start({ kind: 'systemd-notify', command: ['/usr/bin/node', '--max-old-space-size=512', '/srv/app/server.js'] }))[0]!.content;
    expect(c).toMatch(/# With Node options in the app's command, that needs Node >= 22\.15 \(process\.execve\);/);
    // With --daemon a launcher with those options is spawned: no such limit.
    expect(renderSystemd(start({ command: ['/usr/bin/node', '--max-old-space-size=512', '/srv/app/server.js'] }))[0]!.content).not.toMatch(/22\.15/);
  });
});
