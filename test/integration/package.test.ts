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

// Issue 12, item 4: the native addons as a user without build tools gets them. The
// package ships them prebuilt for linux-x64 and linux-arm64 (scripts/prebuild.mjs, run by
// npm pack); src/native.ts loads prebuilds/<platform>-<arch> first, then a local
// build/Release, then falls back (systemd-notify; no PID 1 mode).
describe('without g++, make or python3 on the PATH', () => {
  /** A PATH holding node, npm and sh only: what a user with Node installed has, and no build tools. */
  function bareBin(): string {
    const bin = path.join(tmpdir('forkover-bare-'), 'bin');
    fs.mkdirSync(bin);
    for (const [name, target] of [
      ['node', process.execPath],
      ['npm', path.join(path.dirname(process.execPath), 'npm')],
      ['sh', '/bin/sh'],
    ] as const) fs.symlinkSync(fs.realpathSync(target), path.join(bin, name));
    return bin;
  }

  async function bareInstall(tarball: string, extra: string[] = []) {
    const bin = bareBin();
    const env = { ...process.env, PATH: bin };
    // The premise: none of node-gyp's tools can be found.
    for (const tool of ['g++', 'cc', 'make', 'python3']) expect((await run('/bin/sh', ['-c', `command -v ${tool}`], { env })).code).not.toBe(0);
    const dir = path.join(tmpdir('forkover-nocc-'), 'project');
    fs.mkdirSync(dir);
    expect((await run('npm', ['init', '-y'], { cwd: dir, env })).code).toBe(0);
    const r = await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', ...extra, tarball], { cwd: dir, env, timeoutMs: 240_000 });
    expect({ code: r.code, stderr: r.stderr.replace(/npm warn.*\n/gi, '') }).toMatchObject({ code: 0 });
    return { dir, env, install: r };
  }

  /** Which file each addon loads from in an installed package, or why none loads (src/native.ts, as built). */
  async function loaded(dir: string, env: NodeJS.ProcessEnv): Promise<Record<string, { file?: string; error?: string }>> {
    const native = path.join(dir, 'node_modules', 'forkover', 'dist', 'native.js');
    const r = await run(process.execPath, ['--input-type=module', '-e', `const { loadAddon } = await import(process.argv[1]); const out = {}; for (const n of ['forkover_notify', 'forkover_init']) { const r = loadAddon(n); out[n] = 'error' in r ? { error: r.error } : { file: r.file }; } console.log(JSON.stringify(out));`, native], { cwd: dir, env });
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout) as Record<string, { file?: string; error?: string }>;
  }

  // The tarball the file's beforeAll packed (npm pack ran prepack, scripts/prebuild.mjs).
  const tarball = () => {
    const t = fs.readdirSync(work).find((f) => f.endsWith('.tgz'));
    if (t === undefined) throw new Error(`no tarball in ${work}`);
    return path.join(work, t);
  };

  test('the tarball holds the addons prebuilt for linux x64 and arm64, ELF shared objects of each machine', async () => {
    const list = await run('tar', ['-tzf', tarball()]);
    const files = list.stdout.split('\n').filter((f) => f.startsWith('package/prebuilds/')).sort();
    expect(files).toEqual([
      'package/prebuilds/linux-arm64/forkover_init.node',
      'package/prebuilds/linux-arm64/forkover_notify.node',
      'package/prebuilds/linux-x64/forkover_init.node',
      'package/prebuilds/linux-x64/forkover_notify.node',
    ]);
    // e_machine, at byte 18 of an ELF header: 0x3e x86-64, 0xb7 AArch64; e_type 3, a shared object.
    for (const [arch, machine] of [['x64', 0x3e], ['arm64', 0xb7]] as const) {
      for (const name of ['forkover_notify', 'forkover_init']) {
        const elf = fs.readFileSync(path.join(project, 'node_modules', 'forkover', 'prebuilds', `linux-${arch}`, `${name}.node`));
        expect({ arch, name, magic: elf.subarray(0, 4).toString('latin1'), type: elf.readUInt16LE(16), machine: elf.readUInt16LE(18) }).toEqual({ arch, name, magic: '\x7fELF', type: 3, machine });
      }
    }
  });

  test('npm install compiles nothing, says nothing, and both addons load from the prebuilt', async () => {
    const { dir, env, install: r } = await bareInstall(tarball());
    expect(`${r.stdout}${r.stderr}`).not.toMatch(/forkover:|gyp|not built/);
    expect(fs.existsSync(path.join(dir, 'node_modules', 'forkover', 'build'))).toBe(false);
    const prebuilt = path.join(fs.realpathSync(dir), 'node_modules', 'forkover', 'prebuilds', `linux-${process.arch}`);
    expect(await loaded(dir, env)).toEqual({ forkover_notify: { file: path.join(prebuilt, 'forkover_notify.node') }, forkover_init: { file: path.join(prebuilt, 'forkover_init.node') } });
  });

  test('with no prebuilt for the platform and no compiler: the install succeeds, its one line (shown with --foreground-scripts: npm hides a passing install script\'s output) and build/native-build.log say what is lost and how to build; the app runs', async () => {
    // The same package without prebuilds/: what a platform the package ships nothing for (darwin, musl) gets.
    const unpacked = tmpdir('forkover-noprebuilt-');
    expect((await run('tar', ['-xzf', tarball(), '-C', unpacked])).code).toBe(0);
    fs.rmSync(path.join(unpacked, 'package', 'prebuilds'), { recursive: true });
    const repack = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', unpacked], { cwd: path.join(unpacked, 'package') });
    expect(repack.code).toBe(0);
    const { dir, env, install: r } = await bareInstall(path.join(unpacked, (JSON.parse(repack.stdout) as { filename: string }[])[0]!.filename), ['--foreground-scripts']);
    expect(fs.readFileSync(path.join(dir, 'node_modules', 'forkover', 'build', 'native-build.log'), 'utf8')).toMatch(/python|not found|ENOENT/i);
    const warning = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.startsWith('forkover:'));
    expect(warning).toHaveLength(1);
    expect(warning[0]).toMatch(/^forkover: no prebuilt native addon loads on linux-\w+ and building them failed \(.+\); systemd notify mode will use \/usr\/bin\/systemd-notify instead, and PID 1 mode is unavailable\. To build them, install g\+\+, make and python3, then run "npm rebuild forkover"/);
    const l = await loaded(dir, env);
    expect(l.forkover_notify!.error).toMatch(/prebuilds\/linux-\w+\/forkover_notify\.node: not there; .*build\/Release\/forkover_notify\.node: not there; rebuild it with "npm rebuild forkover"/);
    // The library still works: daemonize, serve, stop (notify mode would use systemd-notify).
    fs.writeFileSync(path.join(dir, 'app.mjs'), "import http from 'node:http';\nimport { forkover } from 'forkover';\nconst d = await forkover();\nd.listen(http.createServer((q, s) => s.end('hi\\n')), { port: Number(process.env.APP_PORT), host: '127.0.0.1' });\nawait d.ready();\n");
    const port = await freePort();
    const pidfile = path.join(dir, 'app.pid');
    const started = await node('app.mjs', ['--daemon', '-p', pidfile, '-l', path.join(dir, 'app.log')], { cwd: dir, env: { ...env, APP_PORT: String(port) } });
    track(readPid(pidfile));
    expect(started.code).toBe(0);
    expect((await get(port)).body).toBe('hi\n');
    expect((await run(process.execPath, [path.join(dir, 'node_modules', 'forkover', 'bin', 'forkover.js'), 'stop', '-p', pidfile], { env })).code).toBe(0);
  });
});
