// The same handler, for PM2's cluster mode (PM2 runs CommonJS apps most reliably there).
// Listens on HOST:PORT from the environment; PM2's master distributes the connections.
const http = require('node:http');

http.createServer((req, res) => res.end(`hello from ${process.pid}\n`)).listen({ host: process.env.HOST, port: Number(process.env.PORT) });
