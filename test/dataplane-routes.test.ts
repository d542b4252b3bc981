/**
 * RouteTable against the real kernel, in a namespace of its own: unicast, blackhole and ECMP
 * routes of both families are installed, changed and removed, and a route of another protocol
 * is never touched.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { ExecRunner } from "../src/dataplane/exec.js";
import { RouteTable, type Route } from "../src/dataplane/routes.js";
import { resolveNextHops } from "../src/dataplane/route-resolve.js";

const NS = `ttcn${process.pid}rt`;
const ip = (...args: string[]) => execFileSync("ip", ["-n", NS, ...args], { encoding: "utf8" });

before(() => {
  execFileSync("ip", ["netns", "add", NS]);
  ip("link", "add", "name", "va", "type", "veth", "peer", "name", "vb");
  ip("link", "set", "va", "up");
  ip("link", "set", "vb", "up");
  ip("addr", "add", "10.9.0.1/24", "dev", "va");
  ip("-6", "addr", "add", "fd00::1/64", "dev", "va", "nodad");
  ip("route", "add", "10.77.0.0/24", "via", "10.9.0.2", "proto", "static");
  ip("-6", "route", "add", "fd77::/64", "via", "fd00::2", "proto", "static");
});

after(() => {
  try {
    execFileSync("ip", ["netns", "del", NS]);
  } catch {
    /* already gone */
  }
});

function kernelRoutes(): string {
  return (ip("route", "show", "table", "main") + ip("-6", "route", "show", "table", "main"))
    .split("\n")
    .filter((l) => l && !l.startsWith("fe80") && !l.includes("proto kernel"))
    .map((l) => l.replace(/ metric 1024| pref medium/g, "").trim())
    .join("\n");
}

test("RouteTable.reconcile installs, changes and removes only proto 152 routes", async () => {
  const table = new RouteTable(new ExecRunner(), { netns: NS });
  const desired: Route[] = [
    { dst: "10.1.0.0/24", type: "unicast", via: ["10.9.0.2", "10.9.0.3"] },
    { dst: "10.2.0.0/26", type: "blackhole" },
    { dst: "10.3.0.5/32", type: "unicast", dev: "vb", scope: "link" },
    { dst: "10.4.0.0/24", type: "unicast", via: ["10.9.0.2"] },
    { dst: "fd01::/64", type: "unicast", via: ["fd00::2", "fd00::3"] },
    { dst: "fd02::/122", type: "blackhole" },
    { dst: "fd03::5/128", type: "unicast", dev: "vb" },
  ];
  assert.deepEqual(await table.reconcile(desired), { added: 7, removed: 0, replaced: 0, refused: [] });
  assert.deepEqual(await table.reconcile(desired), { added: 0, removed: 0, replaced: 0, refused: [] }, "read-back matches");
  assert.equal(
    kernelRoutes(),
    [
      "10.1.0.0/24 proto 152",
      "nexthop via 10.9.0.2 dev va weight 1",
      "nexthop via 10.9.0.3 dev va weight 1",
      "blackhole 10.2.0.0/26 proto 152",
      "10.3.0.5 dev vb proto 152 scope link",
      "10.4.0.0/24 via 10.9.0.2 dev va proto 152",
      "10.77.0.0/24 via 10.9.0.2 dev va proto static",
      "fd01::/64 proto 152",
      "nexthop via fd00::2 dev va weight 1",
      "nexthop via fd00::3 dev va weight 1",
      "blackhole fd02::/122 dev lo proto 152",
      "fd03::5 dev vb proto 152",
      "fd77::/64 via fd00::2 dev va proto static",
    ].join("\n"),
  );
  const next: Route[] = [
    { dst: "10.1.0.0/24", type: "unicast", via: ["10.9.0.3"] },
    { dst: "10.2.0.0/26", type: "unicast", via: ["10.9.0.2"] },
    { dst: "fd01::/64", type: "unicast", via: ["fd00::2", "fd00::3", "fd00::4"] },
    { dst: "fd02::/122", type: "blackhole" },
  ];
  assert.deepEqual(await table.reconcile(next), { added: 0, removed: 4, replaced: 3, refused: [] });
  assert.deepEqual(await table.reconcile(next), { added: 0, removed: 0, replaced: 0, refused: [] });
  assert.equal(
    kernelRoutes(),
    [
      "10.1.0.0/24 via 10.9.0.3 dev va proto 152",
      "10.2.0.0/26 via 10.9.0.2 dev va proto 152",
      "10.77.0.0/24 via 10.9.0.2 dev va proto static",
      "fd01::/64 proto 152",
      "nexthop via fd00::2 dev va weight 1",
      "nexthop via fd00::3 dev va weight 1",
      "nexthop via fd00::4 dev va weight 1",
      "blackhole fd02::/122 dev lo proto 152",
      "fd77::/64 via fd00::2 dev va proto static",
    ].join("\n"),
  );
  assert.deepEqual(await table.reconcile([]), { added: 0, removed: 4, replaced: 0, refused: [] });
  assert.equal(kernelRoutes(), ["10.77.0.0/24 via 10.9.0.2 dev va proto static", "fd77::/64 via fd00::2 dev va proto static"].join("\n"));
});

test("a route the kernel refuses does not block the others; it is reported and retried", async () => {
  const table = new RouteTable(new ExecRunner(), { netns: NS });
  const desired: Route[] = [
    { dst: "10.20.0.0/24", type: "unicast", via: ["10.66.0.1"] }, // not on a connected network
    { dst: "10.21.0.0/24", type: "unicast", via: ["10.9.0.2"] },
    { dst: "fd20::/64", type: "unicast", via: ["fd66::1"] },
    { dst: "fd21::/64", type: "unicast", via: ["fd00::2"] },
  ];
  const res = await table.reconcile(desired);
  assert.deepEqual(res.refused.map((r) => r.dst).sort(), ["10.20.0.0/24", "fd20::/64"]);
  assert.ok(
    res.refused.every((r) => r.reason.length > 0),
    JSON.stringify(res.refused),
  );
  assert.equal(res.added, 2);
  const have = (await table.read()).map((r) => r.dst).sort();
  assert.deepEqual(have, ["10.21.0.0/24", "fd21::/64"]);
  // once the next hop's network is connected, the next pass installs what was refused
  ip("addr", "add", "10.66.0.5/24", "dev", "va");
  const again = await table.reconcile(desired);
  assert.deepEqual(
    again.refused.map((r) => r.dst),
    ["fd20::/64"],
  );
  assert.deepEqual((await table.read()).map((r) => r.dst).sort(), ["10.20.0.0/24", "10.21.0.0/24", "fd21::/64"]);
  ip("addr", "del", "10.66.0.5/24", "dev", "va");
  await table.reconcile([]);
});

test("recursive next hops resolved against the namespace's connected networks install as direct gateways", async () => {
  const table = new RouteTable(new ExecRunner(), { netns: NS });
  ip("addr", "add", "10.98.1.11/32", "peer", "10.98.1.1/32", "dev", "va");
  ip("-6", "addr", "add", "fd98:1::b/128", "peer", "fd98:1::1/128", "dev", "va", "nodad");
  ip("route", "add", "10.55.0.0/24", "dev", "va"); // a device route someone else made: on-link too
  const connected = await table.connected();
  for (const c of ["10.98.1.1/32", "fd98:1::1/128", "10.9.0.0/24", "10.55.0.0/24"]) assert.ok(connected.includes(c), `${c} in ${connected.join(" ")}`);
  const learned = new Map([
    ["10.65.1.0/26", ["10.98.1.12"]], // a reflected block: the originating host as next hop
    ["10.98.1.12/32", ["10.98.1.1", "10.9.0.3"]],
    ["fd65::40/122", ["fd98:1::c"]],
    ["fd98:1::c/128", ["fd98:1::1"]],
  ]);
  const { routes, unresolved } = resolveNextHops(learned, connected);
  assert.deepEqual(unresolved, []);
  const res = await table.reconcile([...routes].map(([dst, via]) => ({ dst, type: "unicast" as const, via })));
  assert.deepEqual(res.refused, []);
  const got = new Map((await table.read()).map((r) => [r.dst, r.via]));
  assert.deepEqual(got.get("10.65.1.0/26"), ["10.9.0.3", "10.98.1.1"]);
  assert.deepEqual(got.get("fd65::40/122"), ["fd98:1::1"]);
  await table.reconcile([]);
});
