/** Test certificates, made at test time with openssl (a test dependency, scripts/test-deps.sh). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { run } from './util.js';

/** A self-signed key pair for 127.0.0.1 and localhost as `<prefix>key.pem` and `<prefix>cert.pem` in `dir`. */
export async function makeCert(dir: string, prefix = ''): Promise<{ key: string; cert: string; ca: Buffer }> {
  const key = path.join(dir, `${prefix}key.pem`);
  const cert = path.join(dir, `${prefix}cert.pem`);
  const r = await run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-keyout', key, '-out', cert,
  ]);
  if (r.code !== 0) throw new Error(`openssl failed (${r.code}): ${r.stderr}`);
  return { key, cert, ca: fs.readFileSync(cert) };
}
