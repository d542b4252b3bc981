// The in-memory transport used by the speaker tests behaves as a socket would where the session
// depends on it: bytes in order and never inside the writer's call, end flushes then closes both
// ends, destroy closes both, a connection to no listener fails with ECONNREFUSED, a stalled reader
// gives backpressure and a drain, TCP-MD5 keys must match at the listener.
import { test } from "node:test";
import assert from "node:assert/strict";
import { MemoryNetwork, type MemoryStream, settle, until } from "../testkit/bgp/memory-transport.js";
import type { ByteStream } from "./transport.js";

async function pair(net = new MemoryNetwork(), password?: string): Promise<{ client: ByteStream; server: ByteStream; net: MemoryNetwork }> {
  let server: ByteStream | undefined;
  const l = await net.listen(
    { address: "127.0.0.1", port: 179 },
    { keys: password ? [{ peer: "127.0.0.2", key: password }] : [], gtsm: false },
    (s) => (server = s),
    () => {},
  );
  let connected = false;
  const client = net.connect({ address: "127.0.0.1", port: 179, localAddress: "127.0.0.2", ...(password ? { password } : {}) }, () => (connected = true));
  assert.ok(!connected && client.connecting, "never inside connect()");
  await until("accepted", () => server !== undefined);
  assert.ok(connected && !client.connecting);
  assert.equal(l.admit(server!, { address: "127.0.0.2", ...(password ? { password } : {}) }), undefined);
  return { client, server: server!, net };
}

test("bytes arrive in order, after the writer's call; end closes both ends after the data", async () => {
  const { client, server } = await pair();
  assert.equal(server.remoteAddress, "127.0.0.2");
  assert.equal(client.localAddress, "127.0.0.2");
  const got: number[] = [];
  let closed = 0;
  server.onData((d) => got.push(...d));
  server.onClose(() => closed++);
  client.onClose(() => closed++);
  const buf = Uint8Array.from([1, 2]);
  client.write(buf);
  buf[0] = 9; // the stream took a copy
  client.write(Uint8Array.from([3]));
  assert.deepEqual(got, []);
  let flushed = false;
  client.end(() => (flushed = true));
  assert.equal(client.write(Uint8Array.from([4])), false, "nothing after end");
  await settle();
  assert.deepEqual(got, [1, 2, 3]);
  assert.ok(flushed);
  assert.equal(closed, 2);
  assert.ok(client.destroyed && server.destroyed);
});

test("destroy closes both ends and drops what is in flight", async () => {
  const { client, server } = await pair();
  const got: number[] = [];
  server.onData((d) => got.push(...d));
  let serverClosed = false;
  server.onClose(() => (serverClosed = true));
  client.write(Uint8Array.from([1]));
  server.destroy();
  await settle();
  assert.deepEqual(got, []);
  assert.ok(serverClosed && client.destroyed);
});

test("no listener: ECONNREFUSED, then close; a second listener on the same address and port is refused", async () => {
  const net = new MemoryNetwork();
  const errors: string[] = [];
  let closed = false;
  let connected = false;
  const c = net.connect({ address: "127.0.0.1", port: 179 }, () => (connected = true));
  c.onError((e) => errors.push(e.message));
  c.onClose(() => (closed = true));
  await settle();
  assert.deepEqual(errors, ["connect ECONNREFUSED 127.0.0.1:179"]);
  assert.ok(closed && !connected);
  await net.listen(
    { address: "127.0.0.1", port: 179 },
    { keys: [], gtsm: false },
    () => {},
    () => {},
  );
  await assert.rejects(
    net.listen(
      { address: "127.0.0.1", port: 179 },
      { keys: [], gtsm: false },
      () => {},
      () => {},
    ),
    /EADDRINUSE/,
  );
});

test("a stalled reader: writes report backpressure, resume drains", async () => {
  const { client, server } = await pair();
  (client as MemoryStream).stall(); // the server stops reading
  assert.equal(client.write(Uint8Array.from([1])), false);
  let drained = false;
  client.onceDrain(() => (drained = true));
  (client as MemoryStream).resume();
  await settle();
  assert.ok(drained);
  const got: number[] = [];
  server.onData((d) => got.push(...d));
  assert.equal(client.write(Uint8Array.from([2])), true);
  await settle();
  assert.deepEqual(got, [2]);
});

test("a stalled reader: what was written meanwhile is held and arrives on resume, before later writes; writes are counted", async () => {
  const { client, server } = await pair();
  const got: number[] = [];
  server.onData((d) => got.push(...d));
  const c = client as MemoryStream;
  c.stall();
  assert.equal(c.write(Uint8Array.from([1])), false);
  assert.equal(c.write(Uint8Array.from([2])), false);
  await settle();
  assert.deepEqual(got, [], "nothing while stalled");
  c.resume();
  assert.equal(c.write(Uint8Array.from([3])), true);
  await settle();
  assert.deepEqual(got, [1, 2, 3]);
  assert.equal(c.writes, 3);
});

test("TCP-MD5: the listener admits a connection signed with the peer's key only", async () => {
  await pair(new MemoryNetwork(), "s3cret");
  const net = new MemoryNetwork();
  let server: ByteStream | undefined;
  const l = await net.listen(
    { address: "127.0.0.1", port: 179 },
    { keys: [], gtsm: false },
    (s) => (server = s),
    () => {},
  );
  l.setKey("127.0.0.2", "s3cret");
  net.connect({ address: "127.0.0.1", port: 179, localAddress: "127.0.0.2" }, () => {});
  await until("accepted", () => server !== undefined);
  assert.match(l.admit(server!, { address: "127.0.0.2", password: "s3cret" }) ?? "", /TCP-MD5/);
});
