// The watchdog's enablement rule and its ping loop (contracts R4.6).
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { WATCHDOG_ENV, Watchdog, requestCheck, targetFor, watchdogFromEnv } from '../../src/systemd/watchdog.js';
import { cleanup, run, tmpdir, waitUntil } from '../helpers/util.js';

describe('watchdogFromEnv (sd_watchdog_enabled)', () => {
  test('enabled iff WATCHDOG_USEC is set and WATCHDOG_PID is unset or ours; all removed', () => {
    const env: NodeJS.ProcessEnv = { WATCHDOG_USEC: '3000000', WATCHDOG_PID: '42' };
    expect(watchdogFromEnv(env, 42)).toBe(3_000_000);
    expect(env).toEqual({});
    expect(watchdogFromEnv({ WATCHDOG_USEC: '3000000' }, 42)).toBe(3_000_000);
    expect(watchdogFromEnv({ WATCHDOG_USEC: '3000000', WATCHDOG_PID: '43' }, 42)).toBeUndefined();
    expect(watchdogFromEnv({}, 42)).toBeUndefined();
    expect(watchdogFromEnv({ WATCHDOG_USEC: 'soon' }, 42)).toBeUndefined();
  });
  test("a successor finds its parent's interval privately", () => {
    const env: NodeJS.ProcessEnv = { [WATCHDOG_ENV]: '500000' };
    expect(watchdogFromEnv(env, 7)).toBe(500_000);
    expect(env).toEqual({});
  });
});

describe('targetFor', () => {
  const fake = (addr: AddressInfo | string | null) => ({ address: () => addr }) as unknown as net.Server;
  test('wildcard addresses are reached over loopback', () => {
    expect(targetFor(fake({ address: '0.0.0.0', port: 80, family: 'IPv4' }))).toEqual({ host: '127.0.0.1', port: 80 });
    expect(targetFor(fake({ address: '::', port: 80, family: 'IPv6' }))).toEqual({ host: '::1', port: 80 });
    expect(targetFor(fake('/run/app.sock'))).toEqual({ path: '/run/app.sock' });
    expect(targetFor(fake(null))).toBeUndefined();
    expect(targetFor(undefined)).toBeUndefined();
  });
});

test('a TLS listener (https) passes the default check by completing a handshake', async () => {
  // A plain-text HEAD to an https server gets no byte back: without this the watchdog
  // would restart every https service.
  const dir = tmpdir('fo-wd-tls-');
  const r = await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${dir}/k.pem`, '-out', `${dir}/c.pem`, '-days', '1', '-subj', '/CN=localhost']);
  expect(r.code).toBe(0);
  const server = https.createServer({ key: fs.readFileSync(`${dir}/k.pem`), cert: fs.readFileSync(`${dir}/c.pem`) }, (_q, res) => res.end('ok'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const target = targetFor(server)!;
    expect(target).toEqual({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, tls: true });
    await expect(Promise.resolve(requestCheck(target)(AbortSignal.timeout(5_000)))).resolves.toBeUndefined();
    await expect(Promise.resolve(requestCheck({ ...target, tls: false })(AbortSignal.timeout(2_000)))).rejects.toThrow(/closed without an answer|no answer/);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await cleanup();
  }
});

describe('Watchdog', () => {
  let server: http.Server;
  let stuck = false;
  beforeAll(async () => {
    // A real server whose answers the test can hold back (a stuck server, not a stuck loop).
    server = http.createServer((_req, res) => {
      if (!stuck) res.end('ok');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  test('pings every USEC/2 while the request check is answered, stops while it is not', async () => {
    const pings: number[] = [];
    const reports: string[] = [];
    const check = requestCheck({ host: '127.0.0.1', port: (server.address() as AddressInfo).port });
    const w = new Watchdog(100_000, () => check, () => pings.push(Date.now()), (l) => reports.push(l));
    expect(w.periodMs).toBe(50);
    w.start();
    try {
      await waitUntil(() => pings.length >= 4, 5_000, 'four pings');
      stuck = true;
      await waitUntil(() => reports.some((r) => /self-check failed \(no answer/.test(r)), 5_000, 'the failure report');
      const n = pings.length;
      const t = Date.now() + 300;
      await waitUntil(() => Date.now() > t, 1_000, 'six intervals');
      expect(pings.length).toBe(n); // no ping while the server does not answer
      stuck = false;
      await waitUntil(() => pings.length > n, 5_000, 'pings to resume');
      expect(reports.some((r) => /passes again/.test(r))).toBe(true);
    } finally {
      stuck = false;
      w.stop();
      server.closeAllConnections();
    }
  });
});
