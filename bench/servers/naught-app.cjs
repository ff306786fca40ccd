// examples/hello.js's handler (bench/lib/handler.cjs) for naught, which wants a CommonJS
// server that says 'online' over IPC once it listens and closes on 'shutdown'.
// Listens on HOST:PORT from the environment.
const http = require('node:http');
const hello = require('../lib/handler.cjs');

const server = http.createServer(hello);
server.listen({ host: process.env.HOST, port: Number(process.env.PORT) }, () => process.send?.('online'));
process.on('message', (m) => {
  if (m === 'shutdown') server.close(() => process.exit(0));
});
