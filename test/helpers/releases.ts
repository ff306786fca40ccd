/**
 * forkover as packed tarballs, for tests that install it the way users do: a past
 * release built from git, the working tree as it is, and copies with the hand-over
 * protocol patched (protocol.ts), each installed with npm into a project of its own.
 *
 * A past commit's tarball is cached under node_modules/.cache/forkover-releases/<sha>/
 * (git-ignored; the tarball does not depend on the Node line that built it), so a run
 * builds it once: git archive, npm ci from the npm cache (--prefer-offline, no install
 * scripts: the tarball ships the C sources, and the installing project builds them),
 * npm run build, npm pack.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT, run } from './util.js';

const CACHE = path.join(ROOT, 'node_modules', '.cache', 'forkover-releases');

async function must(file: string, args: string[], cwd: string, timeoutMs = 240_000, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const r = await run(file, args, { cwd, timeoutMs, env });
  if (r.code !== 0) throw new Error(`${file} ${args.join(' ')} (in ${cwd}) exited ${r.code ?? r.signal}: ${r.stderr.slice(-2000)}${r.stdout.slice(-1000)}`);
  return r.stdout;
}

/** `npm pack` of `dir` into `dest`; the tarball's path. */
async function pack(dir: string, dest: string, scripts = true): Promise<string> {
  const out = await must('npm', ['pack', '--json', '--pack-destination', dest, ...(scripts ? [] : ['--ignore-scripts'])], dir);
  return path.join(dest, (JSON.parse(out) as { filename: string }[])[0]!.filename);
}

/** The packed tarball of forkover at `commit`, built once and cached by its full hash. */
export async function packCommit(commit: string): Promise<string> {
  const sha = (await must('git', ['rev-parse', `${commit}^{commit}`], ROOT)).trim();
  const dir = path.join(CACHE, sha);
  const done = path.join(dir, 'tarball');
  if (fs.existsSync(done)) {
    const file = path.join(dir, fs.readFileSync(done, 'utf8').trim());
    if (fs.existsSync(file)) return file;
  }
  fs.mkdirSync(CACHE, { recursive: true });
  const work = fs.mkdtempSync(path.join(CACHE, `.build-${sha.slice(0, 8)}-`));
  try {
    const src = path.join(work, 'src');
    fs.mkdirSync(src);
    await must('bash', ['-c', `git -C "$0" archive "$1" | tar -x -C "$2"`, ROOT, sha, src], ROOT);
    await must('npm', ['ci', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund'], src, 300_000);
    await must('npm', ['run', 'build'], src);
    const out = path.join(work, 'out');
    fs.mkdirSync(out);
    const tarball = await pack(src, out);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(out, dir);
    fs.writeFileSync(done, path.basename(tarball));
    return path.join(dir, path.basename(tarball));
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** The packed tarball of the working tree as built now (`npm pack` runs its prepack). */
export function packWorkingTree(dest: string): Promise<string> {
  return pack(ROOT, dest);
}

/**
 * A copy of `tarball` whose hand-over protocol is `version`, accepting peers from
 * `minPeer` on: a build of the same code with protocol.ts's two numbers patched, as an
 * incompatible release would have them. Throws unless both were found and changed in
 * every built copy of protocol.ts (the bundle's chunk and tsc's dist/protocol.js).
 */
export async function patchProtocol(tarball: string, dest: string, version: number, minPeer: number): Promise<string> {
  const dir = fs.mkdtempSync(path.join(dest, 'patch-'));
  await must('tar', ['-xzf', tarball, '-C', dir], dest);
  const pkg = path.join(dir, 'package');
  let files = 0;
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.js')) {
        const text = fs.readFileSync(p, 'utf8');
        if (!/PROTOCOL_VERSION = \d+;/.test(text)) continue;
        const patched = text.replace(/PROTOCOL_VERSION = \d+;/, `PROTOCOL_VERSION = ${version};`).replace(/MIN_PEER_PROTOCOL = \d+;/, `MIN_PEER_PROTOCOL = ${minPeer};`);
        if (!patched.includes(`MIN_PEER_PROTOCOL = ${minPeer};`)) throw new Error(`${p} defines PROTOCOL_VERSION but not MIN_PEER_PROTOCOL`);
        fs.writeFileSync(p, patched);
        files += 1;
      }
    }
  };
  walk(path.join(pkg, 'dist'));
  if (files < 2) throw new Error(`found protocol.ts's constants in ${files} built file(s) of ${tarball}, expected the bundle's and tsc's`);
  const out = fs.mkdtempSync(path.join(dest, `protocol-${version}-`));
  // No prepack: the unpacked package has its prebuilt addons already, not the script that makes them.
  return pack(pkg, out, false);
}

/**
 * A project (`npm init -y`) with `tarball` installed by npm, as a user installs it; the
 * project's directory.
 */
export async function installInto(dir: string, tarball: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  fs.mkdirSync(dir, { recursive: true });
  await must('npm', ['init', '-y'], dir);
  await must('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], dir, 300_000, env);
  return dir;
}
