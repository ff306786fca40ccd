// examples/hello.js's handler (bench/lib/handler.cjs), for PM2's cluster mode (PM2 runs CommonJS apps most reliably there).
// Listens on HOST:PORT from the environment; PM2's master distributes the connections.
const http = require('node:http');
const hello = require('../lib/handler.cjs');

http.createServer(hello).listen({ host: process.env.HOST, port: Number(process.env.PORT) });
