// Issue 7: forkover as an installed package. An ESM app (`import`) and a CommonJS app
// (`require`, Node >= 20.19 loads ESM with require()) each daemonize and survive a real
// handoff; the shipped types pass a --strict consumer check (test/consumer/).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT, alive, cleanup, cli, get, node, readPid, run, tmpdir, track, waitUntil } from '../helpers/util.js';

afterEach(cleanup);

/** A project directory whose node_modules/forkover is this repository, as after `npm install`. */
function project(): string {
  const dir = tmpdir();
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(ROOT, path.join(dir, 'node_modules', 'forkover'), 'dir');
  return dir;
}

// Both apps take forkover's flags alone (forkover() parses process.argv) and print
// their module system and PID on every request.
const ESM_APP = `import http from 'node:http';
import { forkover, EXIT } from 'forkover';
if (EXIT.OK !== 0) throw new Error('bad EXIT');
const daemon = await forkover();
const server = http.createServer((_req, res) => res.end(\`esm \${process.pid}\\n\`));
daemon.listen(server, { port: 0, host: '127.0.0.1', name: 'http' });
await daemon.ready();
`;

const CJS_APP = `'use strict';
const http = require('node:http');
const { forkover, EXIT } = require('forkover');
if (EXIT.OK !== 0) throw new Error('bad EXIT');
(async () => {
  const daemon = await forkover();
  const server = http.createServer((_req, res) => res.end(\`cjs \${process.pid}\\n\`));
  daemon.listen(server, { port: 0, host: '127.0.0.1', name: 'http' });
  await daemon.ready();
})();
`;

describe.each([
  ['esm', 'app.mjs', ESM_APP],
  ['cjs', 'app.cjs', CJS_APP],
] as const)('%s', (kind, file, source) => {
  test(`${kind === 'esm' ? "import { forkover } from 'forkover'" : "require('forkover')"}: daemonize, reload, stop`, async () => {
    const dir = project();
    fs.writeFileSync(path.join(dir, file), source);
    const launcher = await node(path.join(dir, file), ['--daemon', '-p', 'app.pid', '-l', 'app.log'], { cwd: dir });
    const pidfile = path.join(dir, 'app.pid');
    const pid = readPid(pidfile);
    track(pid);
    expect(launcher.stderr).toBe('');
    expect(launcher.code).toBe(0);
    const port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(launcher.stdout)?.[1]);
    expect((await get(port)).body).toBe(`${kind} ${pid}\n`);

    const reload = await cli(['reload', '-p', pidfile], { timeoutMs: 20_000 });
    expect(reload.stderr).toBe('');
    expect(reload.code).toBe(0);
    const newPid = readPid(pidfile)!;
    track(newPid);
    expect(newPid).not.toBe(pid);
    expect((await get(port)).body).toBe(`${kind} ${newPid}\n`);
    await waitUntil(() => !alive(pid!), 10_000, `old generation ${pid} to exit`);

    const stop = await cli(['stop', '-p', pidfile]);
    expect(stop.code).toBe(0);
    expect(fs.existsSync(pidfile)).toBe(false);
    // Neither generation printed a warning (e.g. an experimental require(esm) one).
    expect(fs.readFileSync(path.join(dir, 'app.log'), 'utf8')).not.toMatch(/Warning/);
  });
});

test('the exports map exposes the API and package.json, and nothing else', async () => {
  const dir = project();
  const probe = `const ok = [];
try { require('forkover/package.json'); ok.push('package.json'); } catch (e) { ok.push(e.code); }
try { require('forkover/dist/cli.js'); ok.push('dist/cli.js'); } catch (e) { ok.push(e.code); }
const api = require('forkover');
ok.push(typeof api.forkover, typeof api.addForkoverOptions, typeof api.ForkoverError, typeof api.assertSupportedPlatform);
console.log(ok.join(' '));`;
  fs.writeFileSync(path.join(dir, 'probe.cjs'), probe);
  const r = await node(path.join(dir, 'probe.cjs'), [], { cwd: dir });
  expect(r.stderr).toBe('');
  expect(r.stdout.trim()).toBe('package.json ERR_PACKAGE_PATH_NOT_EXPORTED function function function function');
});

test('tsc --strict passes on a consumer using the public API from ESM and CommonJS (test/consumer)', async () => {
  expect(fs.existsSync(path.join(ROOT, 'dist/index.d.ts'))).toBe(true); // types ship in dist
  const r = await run(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(ROOT, 'test/consumer/tsconfig.json')], {
    cwd: ROOT,
    timeoutMs: 60_000,
  });
  expect(r.stdout + r.stderr).toBe('');
  expect(r.code).toBe(0);
});
