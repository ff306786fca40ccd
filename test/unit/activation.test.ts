// Parsing LISTEN_PID / LISTEN_FDS / LISTEN_FDNAMES (contracts R5.1, R5.2) and matching
// activated sockets to the app's listeners. Real activated processes are in
// test/integration/activation.test.ts.
import { listenFds, planAdoption } from '../../src/systemd/activation.js';

const yes = () => true;

describe('listenFds (R5.1)', () => {
  test('not activated: nothing, and LISTEN_* are removed all the same', () => {
    const env: NodeJS.ProcessEnv = { LISTEN_PID: '999999', LISTEN_FDS: '1', LISTEN_FDNAMES: 'web', LISTEN_PIDFDID: '7', OTHER: 'x' };
    expect(listenFds(env, 1234, yes)).toEqual([]); // meant for another PID: not an error
    expect(env).toEqual({ OTHER: 'x' });
    expect(listenFds({}, 1234, yes)).toEqual([]);
    expect(listenFds({ LISTEN_FDS: '2' }, 1234, yes)).toEqual([]); // no LISTEN_PID
  });

  test('fds 3… with their names; removed from the environment', () => {
    const env: NodeJS.ProcessEnv = { LISTEN_PID: '1234', LISTEN_FDS: '2', LISTEN_FDNAMES: 'web:admin' };
    expect(listenFds(env, 1234, yes)).toEqual([
      { name: 'web', fd: 3 },
      { name: 'admin', fd: 4 },
    ]);
    expect(env).toEqual({});
  });

  test('absent or empty names are "unknown"; repeated names are made distinct in order', () => {
    expect(listenFds({ LISTEN_PID: '1', LISTEN_FDS: '2' }, 1, yes).map((a) => a.name)).toEqual(['unknown', 'unknown#2']);
    expect(listenFds({ LISTEN_PID: '1', LISTEN_FDS: '3', LISTEN_FDNAMES: 'a.socket::a.socket' }, 1, yes).map((a) => a.name)).toEqual([
      'a.socket',
      'unknown',
      'a.socket#2',
    ]);
  });

  test('a name count that differs from LISTEN_FDS is an error naming the fix', () => {
    expect(() => listenFds({ LISTEN_PID: '1', LISTEN_FDS: '2', LISTEN_FDNAMES: 'web' }, 1, yes)).toThrow(
      /LISTEN_FDNAMES names 1 sockets but LISTEN_FDS says 2 .*FileDescriptorName=/,
    );
  });

  test('malformed numbers are errors', () => {
    expect(() => listenFds({ LISTEN_PID: '1', LISTEN_FDS: 'two' }, 1, yes)).toThrow(/LISTEN_FDS is "two"/);
    expect(() => listenFds({ LISTEN_PID: 'me', LISTEN_FDS: '1' }, 1, yes)).toThrow(/LISTEN_PID is "me"/);
  });

  test('an fd that is not a socket is refused (R5.2)', () => {
    expect(() => listenFds({ LISTEN_PID: '1', LISTEN_FDS: '2' }, 1, (fd) => fd !== 4)).toThrow(/fd 4 .* not an open socket/);
    // The real check: fd 0 of a test runner is no socket; fds 3… of this process are whatever jest holds.
    expect(() => listenFds({ LISTEN_PID: String(process.pid), LISTEN_FDS: '1' }, process.pid, () => false)).toThrow(/fd 3/);
  });
});

describe('planAdoption', () => {
  test('one socket, one server: adopted whatever the names', () => {
    expect(planAdoption([{ name: 'app.socket', fd: 3 }], ['http'])).toEqual([{ name: 'http', fd: 3 }]);
  });
  test('several sockets or servers: by name only', () => {
    const two = [
      { name: 'http', fd: 3 },
      { name: 'admin', fd: 4 },
    ];
    expect(planAdoption(two, ['admin', 'http'])).toBe(two);
  });
  test('a socket no listener claims is an error naming it and the fix (issue 5)', () => {
    const two = [
      { name: 'http', fd: 3 },
      { name: 'admin', fd: 4 },
    ];
    expect(() => planAdoption(two, ['http'])).toThrow(/systemd passed socket "admin" \(fd 4\), but this app registers no listener of that name \(it registers "http"\); set FileDescriptorName=/);
    expect(() => planAdoption([{ name: 'app.socket', fd: 3 }], ['http', 'admin'])).toThrow(expect.objectContaining({ code: 'INHERITED_INVALID' }));
  });
});
