// Issue 15's flags: --health, --stop-delay and --init, as resolveSettings() takes them from
// code or the command line.
import { parseHealthAddress, resolveSettings } from '../../src/options.js';
import { isForkoverError } from '../../src/errors.js';

test.each([
  ['8081', { port: 8081 }],
  [':8081', { port: 8081 }],
  ['127.0.0.1:8081', { host: '127.0.0.1', port: 8081 }],
  ['[::1]:8081', { host: '::1', port: 8081 }],
  ['localhost:0', { host: 'localhost', port: 0 }],
])('--health %s', (text, expected) => {
  expect(parseHealthAddress(text)).toEqual(expected);
});

test.each(['', 'http://x:1', '127.0.0.1', '70000', '::1:8081', 'a b:1'])('--health %j is not an address', (text) => {
  expect(parseHealthAddress(text)).toBeUndefined();
});

test('defaults: no init, no stop delay, no health endpoint', () => {
  const s = resolveSettings({}, '/', 'app.js');
  expect({ init: s.init, stopDelayMs: s.stopDelayMs, health: s.health }).toEqual({ init: false, stopDelayMs: 0, health: undefined });
});

test('from code: stopDelay in seconds, health as a port or a string', () => {
  expect(resolveSettings({ stopDelay: 2.5, health: 8081, init: true }, '/', 'app.js')).toMatchObject({ stopDelayMs: 2500, health: { port: 8081 }, init: true });
  expect(resolveSettings({ health: '0.0.0.0:9000' }, '/', 'app.js').health).toEqual({ host: '0.0.0.0', port: 9000 });
});

test.each([
  [{ stopDelay: -1 }, '--stop-delay'],
  [{ stopDelay: 'soon' }, '--stop-delay'],
  [{ health: 'nowhere' }, '--health'],
  [{ init: 'yes' }, '--init'],
])('bad %j is a BAD_OPTION naming %s', (opts, flag) => {
  let caught: unknown;
  try {
    resolveSettings(opts as never, '/', 'app.js');
  } catch (err) {
    caught = err;
  }
  expect(isForkoverError(caught, 'BAD_OPTION')).toBe(true);
  expect((caught as Error).message).toContain(flag);
});
