// The hand-over protocol's rule (src/protocol.ts): who can hand over to whom, how a stamp
// reads, and what a refusal says. The processes that apply it: releases.test.ts.
import { MIN_PEER_PROTOCOL, PROTOCOL_VERSION, UNVERSIONED_PROTOCOL, compatible, formatStamp, incompatibility, parseStamp, unversionedStamp, type ProtocolStamp } from '../../src/protocol.js';

const stamp = (version: number, minPeer: number, release = 'x'): ProtocolStamp => ({ version, minPeer, release });

test('this release takes over from, and hands over to, the unversioned previous release (e8509a1)', () => {
  expect(UNVERSIONED_PROTOCOL).toBe(1);
  expect(MIN_PEER_PROTOCOL).toBeLessThanOrEqual(UNVERSIONED_PROTOCOL);
  expect(compatible(stamp(PROTOCOL_VERSION, MIN_PEER_PROTOCOL), unversionedStamp())).toBe(true);
  expect(compatible(unversionedStamp(), stamp(PROTOCOL_VERSION, MIN_PEER_PROTOCOL))).toBe(true);
});

test.each([
  // [a, b, compatible]: symmetric, and the newer side's minPeer decides
  [stamp(2, 1), stamp(1, 1), true],
  [stamp(2, 1), stamp(2, 1), true],
  [stamp(3, 2), stamp(2, 1), true],
  [stamp(3, 2), stamp(1, 1), false],
  [stamp(99, 99), stamp(2, 1), false],
])('compatible(%j, %j) is %s, both ways', (a, b, want) => {
  expect(compatible(a, b)).toBe(want);
  expect(compatible(b, a)).toBe(want);
});

test('a stamp reads back as written; absent means unversioned; garbage is refused by everyone', () => {
  expect(parseStamp(formatStamp(stamp(2, 1, '0.2.0')))).toEqual(stamp(2, 1, '0.2.0'));
  expect(parseStamp(undefined)).toBeUndefined();
  for (const bad of ['', 'two one', '2 3', '0 0']) {
    const s = parseStamp(bad)!;
    expect(compatible(s, stamp(PROTOCOL_VERSION, MIN_PEER_PROTOCOL))).toBe(false);
    expect(s.release).toMatch(/^unreadable/);
  }
});

test('the refusal names both versions, which side moved on, and the way out', () => {
  expect(incompatibility(stamp(2, 1, '0.2.0'), stamp(1, 1, '0.1.0'), { running: 10 })).toBeUndefined();
  const up = incompatibility(stamp(2, 1, '0.2.0'), stamp(9, 9, '9.0.0'), { running: 10, next: 11, pidfile: '/run/a.pid' })!;
  expect(up).toBe(
    'the running generation (PID 10: forkover 0.2.0, hand-over protocol 2 (speaks protocols 1 to 2)) and the new one (PID 11: forkover 9.0.0, hand-over protocol 9 (speaks protocol 9 only)) ' +
      "cannot hand over to each other (the new one no longer speaks the other's protocol), so nothing was changed; " +
      'to switch between these versions, stop the service and start it again ("forkover stop -p /run/a.pid", then your usual start), which closes its sockets in between',
  );
  expect(incompatibility(stamp(9, 9, '9.0.0'), stamp(2, 1, '0.2.0'), { running: 10 })).toContain('(the running one no longer speaks');
});
