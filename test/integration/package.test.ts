// The package as users get it (issue 16, item 6; issue 12, item 4): the `npm pack`
// tarball installed into a fresh `npm init -y` project with the README's own install
// line, then the README's snippets and commands run there as written: the "Using it in
// an app" program, the CommonJS one, and `forkover start` on an app of the package's
// examples. Every other ```js block of the README is an excerpt of an example file
// (`// …` marks what it leaves out), checked line by line.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT, cleanup, get, node, readPid, run, tmpdir, track } from '../helpers/util.js';
import { freePort, jsBlocks, runSteps, section, shBlock } from '../helpers/readme.js';

afterEach(cleanup);

let work: string;
let project: string;
let install: { stdout: string; stderr: string };
const NPX = 'npx --no-install forkover';

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'forkover-pkg-'));
  const pack = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: ROOT, timeoutMs: 120_000 });
  if (pack.code !== 0) throw new Error(`npm pack exited ${pack.code}: ${pack.stderr}`);
  const tarball = path.join(work, (JSON.parse(pack.stdout) as { filename: string }[])[0]!.filename);
  project = path.join(work, 'project');
  fs.mkdirSync(project);
  const init = await run('npm', ['init', '-y'], { cwd: project });
  if (init.code !== 0) throw new Error(`npm init -y exited ${init.code}: ${init.stderr}`);
  // The README's line, with the tarball for "forkover" (it is not on the registry).
  const words = shBlock('Using it in an app')[0]!.command.split(/\s+/);
  expect(words).toEqual(['npm', 'install', 'forkover', 'commander']);
  const r = await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball, 'commander'], { cwd: project, timeoutMs: 240_000 });
  if (r.code !== 0) throw new Error(`npm install exited ${r.code}: ${r.stderr}`);
  install = r;
}, 300_000);

afterAll(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

test('the install is quiet: no engine warning, no compiler output', () => {
  const text = `${install.stdout}${install.stderr}`;
  expect(text).not.toMatch(/EBADENGINE/);
  expect(text).not.toMatch(/gyp (info|http|verb|WARN|ERR)|CXX\(target\)|make: /);
});

test('"Using it in an app": the snippet saved as app.mjs, the commands under it, as written', async () => {
  const [block] = jsBlocks().filter((b) => section('Using it in an app').includes(b.code));
  fs.writeFileSync(path.join(project, 'app.mjs'), block!.code);
  await runSteps(shBlock('Using it in an app'), 'app', { cwd: project });
});

test('the CommonJS snippet runs as a .cjs file: daemonizes, reloads, stops', async () => {
  const block = jsBlocks().find((b) => b.code.includes("require('forkover')"));
  const port = await freePort();
  fs.writeFileSync(path.join(project, 'app.cjs'), block!.code.replaceAll('8080', String(port)));
  const dir = tmpdir();
  const pidfile = path.join(dir, 'cjs.pid');
  const r = await node('app.cjs', ['--daemon', '-p', pidfile, '-l', path.join(dir, 'cjs.log')], { cwd: project });
  track(readPid(pidfile));
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  expect((await get(port)).body).toBe('hi\n');
  const reload = await run('bash', ['-c', `${NPX} reload -p ${pidfile}`], { cwd: project });
  track(readPid(pidfile));
  expect({ code: reload.code, stderr: reload.stderr }).toEqual({ code: 0, stderr: '' });
  const stop = await run('bash', ['-c', `${NPX} stop -p ${pidfile}`], { cwd: project });
  expect(stop.code).toBe(0);
  expect(fs.existsSync(pidfile)).toBe(false);
});

test('"Run an existing app unchanged" with the installed package: forkover start, reload, stop', async () => {
  await runSteps(shBlock('Run an existing app unchanged'), 'app', {
    cwd: project,
    rewrite: (t) => t.replaceAll('node bin/forkover.js', NPX).replaceAll('examples/unmodified.cjs', 'node_modules/forkover/examples/unmodified.cjs'),
  });
});

test('every other ```js block is an excerpt of the example it links: each line is the example\'s, in order', () => {
  const blocks = jsBlocks();
  const norm = (l: string) => l.trim().replace(/\s+/g, ' ').replace(/\s*\/\/.*$/, '');
  // The two complete programs above, and nothing else, stand alone.
  expect(blocks.filter((b) => b.example === undefined).map((b) => b.code.split('\n')[0])).toEqual(["import http from 'node:http';", "const http = require('node:http');"]);
  for (const b of blocks.filter((x) => x.example !== undefined)) {
    const example = fs.readFileSync(path.join(ROOT, b.example!), 'utf8').split('\n').map(norm);
    let at = 0;
    const strays: string[] = [];
    for (const line of b.code.split('\n').filter((l) => !/^\s*\/\/ …/.test(l)).map(norm).filter(Boolean)) {
      const k = example.indexOf(line, at);
      if (k < 0) strays.push(line);
      else at = k + 1;
    }
    expect({ example: b.example, strays }).toEqual({ example: b.example, strays: [] });
  }
});
