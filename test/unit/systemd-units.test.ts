// The unit renderers (contracts R3.7, R4.1, R4.5, R4.6, R5.2). That systemd runs what
// they render is shown in test/integration/systemd.test.ts; here, what they must say.
import { quoteExecArg, renderSystemd, renderSystemdNotify, renderSystemdSocket } from '../../src/init-scripts/systemd.js';
import type { InitScriptSpec } from '../../src/init-scripts/types.js';

const spec = (over: Partial<InitScriptSpec> = {}): InitScriptSpec => ({
  kind: 'systemd',
  name: 'web',
  pidfile: '/run/web/web.pid',
  command: ['/usr/bin/node', '/srv/app/server.js', '--port', '8080'],
  forkoverBin: '/usr/local/bin/forkover',
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
  expect(line(c, 'ExecReload')).toEqual(['ExecReload=/usr/local/bin/forkover reload -p /run/web/web.pid']);
  // systemd would SIGKILL a main PID taken over from a handoff; forkover stop waits (systemd.test.ts).
  expect(line(c, 'ExecStop')).toEqual(['ExecStop=/usr/local/bin/forkover stop -p /run/web/web.pid']);
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
  expect(line(c, 'ExecStop')).toEqual(['ExecStop=/usr/local/bin/forkover stop -p /run/web/web.pid']);
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
