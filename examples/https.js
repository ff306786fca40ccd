#!/usr/bin/env node
// An HTTPS server under forkover. Each generation reads the key and certificate when it
// starts, so a reload is also how a renewed certificate takes effect: no connection is
// dropped, and TLS sessions in progress finish on the old generation.
//   GET /            200 "https <pid>\n"
//   GET /slow?ms=N   200 "slow <pid>\n" after N ms (at most 60 s)
// Flags: --key FILE --cert FILE (PEM, required), --port N (default 8443), --host H, and
// every forkover flag.
import fs from 'node:fs';
import path from 'node:path';
import https from 'node:https';
import { Command, InvalidArgumentError } from 'commander';
import { forkover, addForkoverOptions } from 'forkover';

const program = addForkoverOptions(new Command('https.js'))
  .requiredOption('--key <file>', 'PEM private key')
  .requiredOption('--cert <file>', 'PEM certificate (chain)')
  .option('--port <n>', 'TCP port to listen on (0 picks a free one)', portNumber, 8443)
  .option('--host <h>', 'address to listen on (default: all interfaces)')
  .parse();
const { port, host, key, cert } = program.opts();

const daemon = await forkover(program);
// A daemon runs in / (contracts R1.8): resolve relative paths against the directory the
// user launched from. A missing file fails the start; the launcher prints why.
const tls = { key: readPem(key, '--key'), cert: readPem(cert, '--cert') };

const server = https.createServer(tls, (req, res) => {
  const url = new URL(req.url ?? '/', 'https://localhost');
  if (url.pathname === '/slow') {
    const ms = Math.min(Number(url.searchParams.get('ms')) || 0, 60_000);
    setTimeout(() => res.end(`slow ${process.pid}\n`), ms);
    return;
  }
  res.end(`https ${process.pid}\n`);
});

daemon.listen(server, { port, ...(host ? { host } : {}), name: 'https' });
await daemon.ready();

function readPem(file, flag) {
  const abs = path.resolve(daemon.settings.cwd, file);
  try {
    return fs.readFileSync(abs);
  } catch (err) {
    throw new Error(`cannot read ${flag} ${abs} (${err.code}); give a readable PEM file`);
  }
}

function portNumber(v) {
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`--port takes a whole number from 0 to 65535, not "${v}"`);
  return n;
}

// Try:
//   openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
//     -keyout /tmp/key.pem -out /tmp/cert.pem
//   node examples/https.js --key /tmp/key.pem --cert /tmp/cert.pem --port 8443 \
//     --daemon -p /tmp/https.pid -l /tmp/https.log
//   curl -k https://127.0.0.1:8443/
//   node bin/forkover.js reload -p /tmp/https.pid        # also picks up a renewed cert
//   node bin/forkover.js stop -p /tmp/https.pid
