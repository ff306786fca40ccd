// Issue 7: the README's quick start is run, command by command, and each "# output"
// comment under a command must match a line that command printed (numbers such as PIDs
// and durations may differ). Port 8080 becomes a free port and /tmp/hello a fresh
// directory, so the run touches nothing outside the test.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT, cleanup } from '../helpers/util.js';
import { runSteps, shBlock } from '../helpers/readme.js';

afterEach(cleanup);

test('the quick start runs as written and prints what the README shows', async () => {
  const steps = shBlock('Quick start');
  // The block keeps its shape: build, launch, request, reload, request, status, stop;
  // each command after the build shows its output.
  expect(steps.map((s) => s.command.split(' ').slice(0, 3).join(' '))).toEqual([
    'npm install &&',
    'node examples/hello.js --port',
    'curl -s http://127.0.0.1:8080/',
    'node bin/forkover.js reload',
    'curl -s http://127.0.0.1:8080/',
    'node bin/forkover.js status',
    'node bin/forkover.js stop',
  ]);
  expect(steps.slice(1).every((s) => s.expected.length > 0)).toBe(true);
  await runSteps(steps, 'hello');
});

test('"Run an existing app unchanged" runs as written: forkover start with an app that imports nothing of forkover (issue 14)', async () => {
  const steps = shBlock('Run an existing app unchanged');
  expect(steps.map((s) => s.command.split(' ').slice(0, 3).join(' '))).toEqual([
    'node bin/forkover.js start',
    'curl -s http://127.0.0.1:8080/',
    'node bin/forkover.js reload',
    'curl -s http://127.0.0.1:8080/',
    'node bin/forkover.js stop',
  ]);
  expect(fs.readFileSync(path.join(ROOT, 'examples/unmodified.cjs'), 'utf8')).not.toMatch(/forkover['"]/); // no import of forkover
  await runSteps(steps, 'app');
});
