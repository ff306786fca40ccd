#!/usr/bin/env node
// A raw TCP line-echo server whose connections live for as long as clients like. HTTP
// has a way to end a keep-alive connection politely (Connection: close); a custom
// protocol needs its own, so the app registers a drain hook that tells each client.
//
// Protocol (one line each way):
//   server, on connect:   HELLO <pid>
//   client:               <text>
//   server:               ECHO <pid> <text>
//   server, on drain:     BYE <pid> <stop|handoff>, then it closes its side (FIN).
//   A client that gets BYE reconnects; a line it sent that got BYE instead of its ECHO
//   was not processed and may be sent again.
// Flags: --port N (default 7000), --host H, and every forkover flag.
import net from 'node:net';
import { Command, InvalidArgumentError } from 'commander';
import { forkover, addForkoverOptions } from 'forkover';

const program = addForkoverOptions(new Command('tcp-echo.js'))
  .option('--port <n>', 'TCP port to listen on (0 picks a free one)', portNumber, 7000)
  .option('--host <h>', 'address to listen on (default: all interfaces)')
  .parse();
const { port, host } = program.opts();

const daemon = await forkover(program);

const connections = new Set();
let drainReason; // set once this generation drains

function bye(socket) {
  if (socket.writableEnded) return;
  // end() half-closes: the client reads BYE, then EOF. Never destroy(): data the client
  // sent meanwhile would make the kernel answer with a reset.
  socket.end(`BYE ${process.pid} ${drainReason}\n`);
}

const server = net.createServer((socket) => {
  socket.on('error', () => {}); // a client vanishing is its business
  socket.setEncoding('utf8');
  connections.add(socket);
  socket.once('close', () => connections.delete(socket));
  // A connection accepted just before the listener closed still gets the news.
  if (drainReason !== undefined) return bye(socket);
  socket.write(`HELLO ${process.pid}\n`);
  let pending = '';
  socket.on('data', (chunk) => {
    pending += chunk;
    for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (socket.writableEnded) return; // after BYE: not processed, the client resends
      socket.write(`ECHO ${process.pid} ${line}\n`);
    }
  });
});

// forkover awaits this within --drain-timeout, and exits once every connection closed.
daemon.onDrain(({ reason }) => {
  drainReason = reason;
  for (const socket of connections) bye(socket);
});

daemon.listen(server, { port, ...(host ? { host } : {}), name: 'echo' });
await daemon.ready();

function portNumber(v) {
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`--port takes a whole number from 0 to 65535, not "${v}"`);
  return n;
}

// Try:
//   node examples/tcp-echo.js --port 7000 --daemon -p /tmp/echo.pid -l /tmp/echo.log
//   nc 127.0.0.1 7000                                   # type lines; they come back
//   node bin/forkover.js reload -p /tmp/echo.pid        # nc prints "BYE <pid> handoff"
//   nc 127.0.0.1 7000                                   # HELLO <new pid>
//   node bin/forkover.js stop -p /tmp/echo.pid
