// Issue 5, item 7 in CI: a short run of the crash-injecting soak (bench/soak.mjs; the full
// 500-handoff run is `npm run soak`). 12 handoffs under keep-alive load, a third of the new
// generations crashing at a random start-up point: no failed request, every crash rolled
// back, one generation left, no zombie (jest runs under tini -s, our subreaper).
import * as path from 'node:path';
import { ROOT, cleanup, node } from '../helpers/util.js';

afterEach(cleanup);

test('12 handoffs, crash rate 1/3: 0 failed requests, crashes rolled back, 1 generation, 0 zombies', async () => {
  const r = await node(path.join(ROOT, 'bench/soak.mjs'), ['--handoffs', '12', '--crash-rate', '0.34', '--seed', '7', '--concurrency', '4', '--max-minutes', '1'], {
    timeoutMs: 60_000,
  });
  const last = r.stdout.trim().split('\n').pop()!;
  let result: Record<string, unknown>;
  try {
    result = JSON.parse(last) as Record<string, unknown>;
  } catch {
    throw new Error(`soak printed no result (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
  expect(result.failed).toBe(0);
  expect(result.requests as number).toBeGreaterThan(100);
  expect(result.unexpected).toEqual([]);
  expect((result.succeeded as number) + (result.rolledBack as number)).toBe(12);
  expect(result.rolledBack as number).toBeGreaterThan(0); // the schedule (seed 7) does crash some
  expect(result.generationsLeft).toBe(1);
  expect(result.zombies).toBe(0);
  expect(r.code).toBe(0);
});
