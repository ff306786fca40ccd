// Issue 7: the README's quick start is run, command by command, and each "# output"
// comment under a command must match a line that command printed (numbers such as PIDs
// and durations may differ). Port 8080 becomes a free port and /tmp/hello a fresh
// directory, so the run touches nothing outside the test.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { ROOT, cleanup, readPid, run, tmpdir, track } from '../helpers/util.js';

afterEach(cleanup);

interface Step {
  command: string;
  expected: string[];
}

/** The first ```sh block of a README section, as commands and their outputs. */
function shBlock(title: string): Step[] {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = new RegExp(`^## ${title}\\n([\\s\\S]*?)(?=^## )`, 'm').exec(readme)?.[1];
  const block = section && /```sh\n([\s\S]*?)```/.exec(section)?.[1];
  if (!block) throw new Error(`README.md has no \`\`\`sh block under "## ${title}"`);
  const steps: Step[] = [];
  for (const line of block.split('\n')) {
    if (line.trim() === '') continue;
    if (line.startsWith('#')) steps[steps.length - 1]!.expected.push(line.replace(/^#\s?/, ''));
    else steps.push({ command: line, expected: [] });
  }
  return steps;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** The expected line as a regex: literal text, any number where the README shows one. */
function pattern(expected: string): RegExp {
  const escaped = expected.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${escaped.replace(/\d+/g, '\\d+')}$`);
}

/**
 * Run each step (bar npm's) with /tmp/<name> in a fresh directory and 8080 a free port;
 * each must exit 0, print nothing on stderr and print every line the README shows.
 */
async function runSteps(steps: Step[], name: string): Promise<void> {
  const dir = tmpdir();
  const port = String(await freePort());
  const subst = (text: string) => text.replaceAll(`/tmp/${name}`, path.join(dir, name)).replaceAll('8080', port);
  const pidfile = path.join(dir, `${name}.pid`);
  for (const step of steps) {
    if (step.command.startsWith('npm ')) continue; // done by `npm test`'s pretest
    const command = subst(step.command);
    const r = await run('bash', ['-c', command], { cwd: ROOT, timeoutMs: 30_000 });
    track(readPid(pidfile));
    const lines = r.stdout.split('\n');
    expect({ command, code: r.code, stderr: r.stderr }).toEqual({ command, code: 0, stderr: '' });
    for (const want of step.expected.map(subst)) {
      expect({ command, matched: lines.some((l) => pattern(want).test(l)), want, got: r.stdout }).toMatchObject({ matched: true });
    }
  }
  expect(fs.existsSync(pidfile)).toBe(false); // the last step stopped it
}

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
