// The README's first command runs scripts/demo.mjs: this keeps it working (issue 3 item 9).
import * as path from 'node:path';
import { ROOT, cleanup, node } from '../helpers/util.js';

afterEach(cleanup);

test('the demo daemonizes, reloads under load with 0 failed requests, and stops', async () => {
  const r = await node(path.join(ROOT, 'scripts/demo.mjs'), ['--reloads', '3', '--seconds', '3'], { timeoutMs: 120_000 });
  expect(r.stderr).toBe('');
  // The demo says on stdout which step failed: show it with the exit code.
  expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 0, stdout: expect.stringContaining('OK: every request was served') });
  expect(r.stdout).toMatch(/started as PID \d+/);
  expect(r.stdout).toMatch(/running as PID \d+/);
  expect(r.stdout.match(/reload \d: exit 0, reloaded: PID \d+ -> \d+/g)).toHaveLength(3);
  expect(r.stdout).toMatch(/failed: {3}0 /);
  expect(Number(/requests: (\d+)/.exec(r.stdout)![1])).toBeGreaterThan(100);
  expect(r.stdout).toMatch(/stopped \(PID \d+\)/);
  expect(r.stdout).toContain('OK: every request was served through every reload.');
}, 150_000);
