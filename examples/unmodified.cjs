// An app that knows nothing of forkover: it calls its own listen() and handles its own
// SIGTERM, as most Node servers do. `forkover start` runs it as a forkover daemon as is:
//   node bin/forkover.js start --daemon -p /tmp/app.pid -l /tmp/app.log -- node examples/unmodified.cjs --port 8080
const http = require('node:http');

const i = process.argv.indexOf('--port');
const port = Number(i > 0 ? process.argv[i + 1] : process.env.PORT ?? 8080);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error(`unmodified.cjs: --port takes 1 to 65535, not "${i > 0 ? process.argv[i + 1] : process.env.PORT}"`);
  process.exit(2);
}
const server = http.createServer((req, res) => res.end(`hello from ${process.pid}\n`));
server.listen(port, '127.0.0.1', () => console.log(`listening on ${port}`));
process.on('SIGTERM', () => {
  console.log('SIGTERM: closing');
  server.close(() => process.exit(0));
});
