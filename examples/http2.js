#!/usr/bin/env node
// An HTTP/2 server (TLS, no HTTP/1 fallback) under forkover. When a generation drains,
// each HTTP/2 session gets GOAWAY: streams already open finish, and clients open new
// streams on a new connection, which the next generation accepts.
//   GET /            200 "http2 <pid>\n"
//   GET /slow?ms=N   200 "slow <pid>\n" after N ms (at most 60 s)
// Flags: --key FILE --cert FILE (PEM, required), --port N (default 8443), --host H, and
// every forkover flag.
import fs from 'node:fs';
import path from 'node:path';
import http2 from 'node:http2';
import { Command, InvalidArgumentError } from 'commander';
import { forkover, addForkoverOptions } from 'forkover';

const program = addForkoverOptions(new Command('http2.js'))
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

const server = http2.createSecureServer({ ...tls, allowHTTP1: false });
server.on('stream', (stream, headers) => {
  const url = new URL(headers[':path'] ?? '/', 'https://localhost');
  // A stream the client reset (or a session destroyed at the drain deadline) must not
  // throw from a late respond().
  stream.on('error', () => {});
  const reply = (body) => {
    if (stream.destroyed || stream.closed) return;
    stream.respond({ ':status': 200, 'content-type': 'text/plain' });
    stream.end(body);
  };
  if (url.pathname === '/slow') {
    const ms = Math.min(Number(url.searchParams.get('ms')) || 0, 60_000);
    setTimeout(() => reply(`slow ${process.pid}\n`), ms);
    return;
  }
  reply(`http2 ${process.pid}\n`);
});

daemon.listen(server, { port, ...(host ? { host } : {}), name: 'h2' });
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
//   node examples/http2.js --key /tmp/key.pem --cert /tmp/cert.pem --port 8443 \
//     --daemon -p /tmp/h2.pid -l /tmp/h2.log
//   curl -k --http2 https://127.0.0.1:8443/
//   node bin/forkover.js reload -p /tmp/h2.pid
//   node bin/forkover.js stop -p /tmp/h2.pid
