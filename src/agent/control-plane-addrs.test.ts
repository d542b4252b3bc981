import { test } from "node:test";
import assert from "node:assert/strict";
import { datastoreEndpoints, splitEndpoint } from "./control-plane-addrs.js";

test("datastore endpoints: addresses and ports from an etcd URL; names resolved; SQLite has none", async () => {
  assert.deepEqual(splitEndpoint("10.99.0.254:2379"), { host: "10.99.0.254", port: 2379 });
  assert.deepEqual(splitEndpoint("[fd00::1]:12379"), { host: "fd00::1", port: 12379 });
  assert.deepEqual(splitEndpoint("fd00::1"), { host: "fd00::1", port: 2379 });
  assert.deepEqual(splitEndpoint("etcd-a"), { host: "etcd-a", port: 2379 });
  const lookup = async (h: string) => (h === "etcd-a" ? ["192.0.2.5", "2001:db8:0:0::5"] : []);
  assert.deepEqual(await datastoreEndpoints("etcds://10.99.0.254:2379,etcd-a:12379,[fd00::1]?ca=/x", lookup), {
    addrs: ["10.99.0.254", "192.0.2.5", "2001:db8::5", "fd00::1"],
    tcpPorts: [2379, 12379],
  });
  assert.deepEqual(await datastoreEndpoints("sqlite:///var/lib/tabby/tabby.db", lookup), { addrs: [], tcpPorts: [] });
});
