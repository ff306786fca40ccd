// sd_notify transports (contracts R4.2, R4.7), against a real AF_UNIX datagram receiver
// (test/fixtures/notify-receiver.py) that reads the sender's credentials the way
// systemd does. Path and abstract (@) sockets, native addon and systemd-notify.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ForkoverError } from '../../src/errors.js';
import { formatMessage, loadNative, openNotifier } from '../../src/systemd/notify.js';
import { cleanup, tmpdir } from '../helpers/util.js';
import { notifyReceiver } from '../helpers/notify.js';

afterEach(cleanup);


// Made inside each test: cleanup() removes every test's temp dir afterwards.
const addresses: [string, () => string][] = [
  ['path', () => path.join(tmpdir('fo-notify-'), 'notify.sock')],
  ['abstract', () => `@forkover-test-${process.pid}-${Math.random().toString(36).slice(2)}`],
];

describe('formatMessage (R4.3)', () => {
  test('one KEY=VALUE per line; values flattened to one line', () => {
    expect(formatMessage({ READY: 1, STATUS: 'a\nb', MONOTONIC_USEC: 12n })).toBe('READY=1\nSTATUS=a b\nMONOTONIC_USEC=12');
  });
  test('refuses keys systemd would not understand', () => {
    expect(() => formatMessage({ 'ready=1': 1 })).toThrow(/upper-case/);
  });
});

describe('openNotifier', () => {
  test('NOTIFY_SOCKET unset or empty: not supervised, no error', () => {
    expect(openNotifier({})).toBeUndefined();
    expect(openNotifier({ NOTIFY_SOCKET: '' })).toBeUndefined();
  });
  test('a relative NOTIFY_SOCKET is a start-up error naming the fix (R4.2)', () => {
    expect(() => openNotifier({ NOTIFY_SOCKET: 'run/notify' })).toThrow(/absolute path or @name/);
  });
  test('NOTIFY_SOCKET set but no transport works: fails loudly (R4.7 c)', () => {
    let err: unknown;
    try {
      openNotifier({ NOTIFY_SOCKET: '/run/x', FORKOVER_NOTIFY_TRANSPORT: 'systemd-notify' }, { systemdNotify: '/nonexistent/systemd-notify' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ForkoverError);
    expect((err as Error).message).toMatch(/NOTIFY_SOCKET is set .* no sd_notify transport works: .*nonexistent\/systemd-notify is not there/);
  });
  test('an unknown forced transport is a bad option', () => {
    expect(() => openNotifier({ NOTIFY_SOCKET: '/run/x', FORKOVER_NOTIFY_TRANSPORT: 'udp' })).toThrow(/use "native" or "systemd-notify"/);
  });
  test('the native addon is built (npm install) and preferred', () => {
    expect(loadNative().error).toBeUndefined();
    expect(openNotifier({ NOTIFY_SOCKET: '/run/x' })?.transport).toBe('native');
  });
});

// The receiver binds the abstract name with its exact length: a sender that padded the
// address (sizeof(sockaddr_un)) would reach another name and get ECONNREFUSED (R4.2).
describe.each(addresses)('%s NOTIFY_SOCKET', (_kind, makeAddress) => {
  test('native: one datagram, sent with our own PID (what NotifyAccess=main checks)', async () => {
    const address = makeAddress();
    const r = await notifyReceiver(address, 30);
    const n = openNotifier({ NOTIFY_SOCKET: address, FORKOVER_NOTIFY_TRANSPORT: 'native' })!;
    n.send({ MAINPID: 4242, READY: 1 });
    const [d] = await r.next(1);
    expect(d).toMatchObject({ pid: process.pid, uid: process.getuid!(), fields: ["MAINPID=4242", "READY=1"] });
  });

  test('systemd-notify: arrives too (as root it speaks for its parent, us)', async () => {
    const address = makeAddress();
    const r = await notifyReceiver(address, 30);
    const n = openNotifier({ NOTIFY_SOCKET: address, FORKOVER_NOTIFY_TRANSPORT: 'systemd-notify' })!;
    expect(n.transport).toBe('systemd-notify');
    n.send({ STATUS: 'hello', READY: 1 });
    const got = await r.next(1);
    expect(got[0]!.fields).toEqual(['STATUS=hello', 'READY=1']);
    if (process.getuid!() === 0) expect(got[0]!.pid).toBe(process.pid);
  });
});

test('a socket nobody listens on: send throws a ForkoverError (never silent)', () => {
  const dead = path.join(tmpdir('fo-notify-'), 'nobody.sock');
  const n = openNotifier({ NOTIFY_SOCKET: dead })!;
  expect(() => n.send({ READY: 1 })).toThrow(/cannot notify the service manager at .*nobody\.sock: .*No such file/);
  expect(fs.existsSync(dead)).toBe(false);
  const abstract = openNotifier({ NOTIFY_SOCKET: `@forkover-nobody-${process.pid}` })!;
  expect(() => abstract.send({ READY: 1 })).toThrow(/Connection refused/);
});
