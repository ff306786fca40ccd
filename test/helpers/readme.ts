/**
 * The README's code blocks, read and run by tests: a ```sh block as commands with the
 * output each "# …" line under it promises, and the ```js blocks with the example file
 * each one is an excerpt of.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT, freePort, readPid, run, tmpdir, track } from './util.js';

export { freePort };

export const README = (): string => fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

export interface Step {
  command: string;
  expected: string[];
}

/** The text of a README section (`## title`), up to the next `## `. */
export function section(title: string): string {
  const text = new RegExp(`^## ${title.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\n([\\s\\S]*?)(?=^## )`, 'm').exec(README())?.[1];
  if (!text) throw new Error(`README.md has no section "## ${title}"`);
  return text;
}

/** The first ```sh block of a README section, as commands and their outputs. */
export function shBlock(title: string): Step[] {
  const block = /```sh\n([\s\S]*?)```/.exec(section(title))?.[1];
  if (!block) throw new Error(`README.md has no \`\`\`sh block under "## ${title}"`);
  const steps: Step[] = [];
  for (const line of block.split('\n')) {
    if (line.trim() === '') continue;
    if (line.startsWith('#')) steps[steps.length - 1]!.expected.push(line.replace(/^#\s?/, ''));
    else steps.push({ command: line.replace(/\s+#.*$/, ''), expected: [] });
  }
  return steps;
}

/** Every ```js block of the README, with the examples/ file linked last before it in its section (if any). */
export function jsBlocks(): { code: string; example: string | undefined }[] {
  const readme = README();
  const out: { code: string; example: string | undefined }[] = [];
  let end = 0;
  for (const m of readme.matchAll(/```js\n([\s\S]*?)```/g)) {
    // The text since the previous block, within this block's own section.
    const since = readme.slice(end, m.index);
    const heading = [...since.matchAll(/^#{2,4} .*$/gm)].pop();
    const before = heading ? since.slice(heading.index) : since;
    end = m.index + m[0].length;
    out.push({ code: m[1]!, example: [...before.matchAll(/\((examples\/[\w.-]+\.js)\)/g)].pop()?.[1] });
  }
  return out;
}

/** The expected line as a regex: literal text, any number where the README shows one. */
function pattern(expected: string): RegExp {
  const escaped = expected.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${escaped.replace(/\d+/g, '\\d+')}$`);
}

/**
 * Run each step (bar `npm install`'s, done by `npm test`'s pretest or by the caller) in
 * `cwd`, with /tmp/<name> in a fresh directory, 8080 a free port and `rewrite` applied;
 * each must exit 0, print nothing on stderr and print every line the README shows. The
 * last step must have stopped the daemon: its pidfile /tmp/<name>.pid is gone.
 */
export async function runSteps(steps: Step[], name: string, opts: { cwd?: string; rewrite?: (text: string) => string } = {}): Promise<void> {
  const dir = tmpdir();
  const port = String(await freePort());
  const subst = (text: string) => (opts.rewrite ?? ((t) => t))(text.replaceAll(`/tmp/${name}`, path.join(dir, name)).replaceAll('8080', port));
  const pidfile = path.join(dir, `${name}.pid`);
  for (const step of steps) {
    if (step.command.startsWith('npm ')) continue;
    const command = subst(step.command);
    const r = await run('bash', ['-c', command], { cwd: opts.cwd ?? ROOT, timeoutMs: 30_000 });
    track(readPid(pidfile));
    const lines = r.stdout.split('\n');
    expect({ command, code: r.code, stderr: r.stderr }).toEqual({ command, code: 0, stderr: '' });
    for (const want of step.expected.map(subst)) {
      expect({ command, matched: lines.some((l) => pattern(want).test(l)), want, got: r.stdout }).toMatchObject({ matched: true });
    }
  }
  expect(fs.existsSync(pidfile)).toBe(false);
}
