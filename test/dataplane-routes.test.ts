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
  assert.deepEqual(await table.reconcile(desired), { added: 7, removed: 0, replaced: 0 });
  assert.deepEqual(await table.reconcile(desired), { added: 0, removed: 0, replaced: 0 }, "read-back matches");
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
  assert.deepEqual(await table.reconcile(next), { added: 0, removed: 4, replaced: 3 });
  assert.deepEqual(await table.reconcile(next), { added: 0, removed: 0, replaced: 0 });
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
  assert.deepEqual(await table.reconcile([]), { added: 0, removed: 4, replaced: 0 });
  assert.equal(kernelRoutes(), ["10.77.0.0/24 via 10.9.0.2 dev va proto static", "fd77::/64 via fd00::2 dev va proto static"].join("\n"));
});
