// A TypeScript CommonJS module requiring forkover (an ESM-only package: Node >= 20.19
// loads it with require(), and TypeScript >= 5.8 types that under module nodenext).
// Type-checked with --strict by test/integration/modules.test.ts. Not run.
import http = require('node:http');
import forkoverPkg = require('forkover');

const { forkover, ForkoverError } = forkoverPkg;

async function main(): Promise<void> {
  const daemon: forkoverPkg.Daemon = await forkover({ drainTimeout: 5 });
  daemon.listen(http.createServer((_req, res) => res.end('ok\n')), { port: 0, host: '127.0.0.1' });
  await daemon.ready();
}
main().catch((err: unknown) => {
  if (err instanceof ForkoverError) process.stderr.write(`${err.code}: ${err.message}\n`);
  process.exitCode = 1;
});
