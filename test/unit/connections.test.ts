// src/connections.ts: the drain's list of open connections, on real loopback sockets.
// It must hold exactly the sockets that are open, whatever order they close in, since
// the drain counts it and destroys what is left in it at the deadline (R3.4).
import * as net from 'node:net';
import { once } from 'node:events';
import { Connections } from '../../src/connections.js';

let server: net.Server;
const clients: net.Socket[] = [];
beforeEach(async () => {
  server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await new Promise((resolve) => server.close(resolve));
});

/** Open `n` connections; resolves with the server's side of each, in accept order. */
async function accept(n: number): Promise<net.Socket[]> {
  const accepted: net.Socket[] = [];
  const all = new Promise<void>((resolve) => {
    const on = (s: net.Socket) => {
      accepted.push(s);
      if (accepted.length === n) {
        server.off('connection', on);
        resolve();
      }
    };
    server.on('connection', on);
  });
  const { port } = server.address() as net.AddressInfo;
  for (let i = 0; i < n; i++) clients.push(net.connect(port, '127.0.0.1'));
  await all;
  return accepted;
}

/** `list` holds exactly the sockets of `open`, each once, compared by identity. */
function expectSame(list: Connections, open: Set<net.Socket>): void {
  const held = [...list];
  expect(held).toHaveLength(open.size);
  expect(new Set(held).size).toBe(held.length);
  expect(held.filter((s) => !open.has(s))).toHaveLength(0);
}

/** Destroy `s` and wait for its 'close' event (a stream is `closed` a tick before it). */
async function destroyed(s: net.Socket): Promise<void> {
  const closing = once(s, 'close');
  s.destroy();
  await closing;
}

test('holds exactly the open sockets as they close in a scrambled order, and is empty at the end', async () => {
  const list = new Connections();
  const sockets = await accept(40);
  for (const s of sockets) list.add(s);
  list.add(sockets[0] as net.Socket); // a second add of the same socket changes nothing
  expect(list.size).toBe(40);

  const open = new Set(sockets);
  // Close the middle, the last and the first alternately, so that swap-remove moves
  // sockets around: after every close, the list and the open set must agree.
  const order: net.Socket[] = [];
  const rest = [...sockets];
  while (rest.length > 0) {
    order.push(rest.splice(Math.floor(rest.length / 2), 1)[0] as net.Socket);
    if (rest.length > 0) order.push(rest.pop() as net.Socket);
    if (rest.length > 0) order.push(rest.shift() as net.Socket);
  }
  for (const s of order) {
    await destroyed(s);
    open.delete(s);
    expect(list.size).toBe(open.size);
    expectSame(list, open);
  }
  expect(list.size).toBe(0);
});

test('a walk is a snapshot: closing each socket as it is reached, the walk still reaches every one once', async () => {
  const list = new Connections();
  const sockets = await accept(10);
  for (const s of sockets) list.add(s);
  const seen: net.Socket[] = [];
  // Each close swap-removes the socket while the walk is under way: a live walk of the
  // array would skip the socket moved into the closed one's place.
  for (const s of list) {
    seen.push(s);
    await destroyed(s);
  }
  expect(seen).toHaveLength(10);
  expectSame(list, new Set());
  expect(new Set(seen).size).toBe(10);
  expect(seen.filter((s) => !sockets.includes(s))).toHaveLength(0);
});

test('one socket in two lists leaves each on its own close', async () => {
  const a = new Connections();
  const b = new Connections();
  const [s, t] = (await accept(2)) as [net.Socket, net.Socket];
  a.add(s);
  a.add(t);
  b.add(s);
  expect([a.size, b.size]).toEqual([2, 1]);
  await destroyed(s);
  expectSame(a, new Set([t]));
  expect(b.size).toBe(0);
});
