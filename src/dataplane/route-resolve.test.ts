import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { connectedFromIpAddr, resolveNextHops } from "./route-resolve.js";

const CONNECTED = ["10.98.1.1/32", "10.98.1.2/32", "fd98:1::1/128", "192.168.5.0/24"];

test("a next hop on a connected network is kept as is", () => {
  const r = resolveNextHops(new Map([["10.65.0.0/26", ["10.98.1.1", "10.98.1.2"]]]), CONNECTED);
  assert.deepEqual([...r.routes], [["10.65.0.0/26", ["10.98.1.1", "10.98.1.2"]]]);
  assert.deepEqual(r.unresolved, []);
});

test("a next hop behind another learned route resolves through it, keeping its ECMP set", () => {
  // a block reflected with the originating host as next hop; that host's /32 learned via both ToRs
  const learned = new Map([
    ["10.65.1.0/26", ["10.98.1.12"]],
    ["10.98.1.12/32", ["10.98.1.2", "10.98.1.1"]],
    ["fd65::40/122", ["fd98:1::c"]],
    ["fd98:1::/64", ["fd98:1::1"]],
  ]);
  const r = resolveNextHops(learned, CONNECTED);
  assert.deepEqual(r.routes.get("10.65.1.0/26"), ["10.98.1.1", "10.98.1.2"]);
  assert.deepEqual(r.routes.get("10.98.1.12/32"), ["10.98.1.1", "10.98.1.2"]);
  assert.deepEqual(r.routes.get("fd65::40/122"), ["fd98:1::1"]);
  assert.deepEqual(r.unresolved, []);
});

test("resolution follows the longest match, over several levels, and merges paths", () => {
  const learned = new Map([
    ["10.70.0.0/24", ["10.50.0.9", "10.60.0.1"]],
    ["10.50.0.0/16", ["10.98.1.1"]],
    ["10.50.0.0/24", ["10.40.0.1"]], // longer: wins for 10.50.0.9
    ["10.40.0.0/24", ["10.98.1.2"]],
    ["10.60.0.0/24", ["192.168.5.7"]],
  ]);
  const r = resolveNextHops(learned, CONNECTED);
  assert.deepEqual(r.routes.get("10.70.0.0/24"), ["10.98.1.2", "192.168.5.7"]);
});

test("unresolvable next hops: the route goes to the kernel as learned (all dead) or keeps the live ones, and both are reported", () => {
  const learned = new Map([
    ["10.65.2.0/26", ["10.77.0.1"]],
    ["10.65.3.0/26", ["10.77.0.1", "10.98.1.1"]],
  ]);
  const r = resolveNextHops(learned, CONNECTED);
  assert.deepEqual(r.routes.get("10.65.2.0/26"), ["10.77.0.1"]);
  assert.deepEqual(r.routes.get("10.65.3.0/26"), ["10.98.1.1"]);
  assert.deepEqual(r.unresolved, [
    { dst: "10.65.2.0/26", via: ["10.77.0.1"], reason: "no route to next hop 10.77.0.1; left to the kernel as learned" },
    { dst: "10.65.3.0/26", via: ["10.77.0.1"], reason: "next hop 10.77.0.1 unreachable; installed via the others" },
  ]);
});

test("a route never resolves through itself, and cycles end unresolved", () => {
  const learned = new Map([
    ["10.80.0.0/24", ["10.80.0.1"]], // next hop inside its own prefix
    ["10.81.0.0/24", ["10.82.0.1"]],
    ["10.82.0.0/24", ["10.81.0.1"]],
    ["0.0.0.0/0", ["10.98.1.1"]],
  ]);
  const r = resolveNextHops(learned, CONNECTED);
  // each falls back to the next longest match that is not on its own chain: the default route
  assert.deepEqual(r.routes.get("10.80.0.0/24"), ["10.98.1.1"]);
  assert.deepEqual(r.routes.get("10.81.0.0/24"), ["10.98.1.1"]);
  const noDefault = new Map([...learned].filter(([k]) => k !== "0.0.0.0/0"));
  const r2 = resolveNextHops(noDefault, CONNECTED);
  assert.deepEqual(
    [...r2.routes],
    [
      ["10.80.0.0/24", ["10.80.0.1"]],
      ["10.81.0.0/24", ["10.82.0.1"]],
      ["10.82.0.0/24", ["10.81.0.1"]],
    ],
  );
  assert.equal(r2.unresolved.length, 3);
});

test("next hops are on connected networks, or the route's own when nothing resolved (property)", () => {
  const addr = fc.constantFrom("10.98.1.1", "10.98.1.2", "10.0.0.1", "10.0.1.1", "10.0.2.1", "10.9.9.9", "192.168.5.3");
  const prefix = fc.constantFrom("10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24", "10.0.0.0/16", "10.1.0.0/24", "0.0.0.0/0");
  fc.assert(
    fc.property(fc.array(fc.tuple(prefix, fc.array(addr, { minLength: 1, maxLength: 3 })), { maxLength: 8 }), (rows) => {
      const learned = new Map<string, string[]>(rows);
      const r = resolveNextHops(learned, CONNECTED);
      const direct = ["10.98.1.1", "10.98.1.2", "192.168.5.3"];
      assert.equal(r.routes.size, learned.size);
      for (const [dst, hops] of r.routes) {
        assert.ok(hops.length > 0);
        const asLearned = [...new Set(learned.get(dst))].sort();
        const ok =
          hops.every((h) => direct.includes(h)) ||
          (r.unresolved.some((u) => u.dst === dst && /left to the kernel/.test(u.reason)) && hops.join() === asLearned.join());
        assert.ok(ok, `${dst} via ${hops.join(",")}`);
      }
    }),
  );
});

test("connectedFromIpAddr: networks and point-to-point peers, no loopback or link-local", () => {
  // captured shape of `ip -j addr show` (iproute2 6.1) for a dual-homed lab host
  const json = JSON.stringify([
    { ifname: "lo", flags: ["LOOPBACK", "UP", "LOWER_UP"], addr_info: [{ family: "inet", local: "127.0.0.1", prefixlen: 8, scope: "host" }] },
    {
      ifname: "upa",
      flags: ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"],
      addr_info: [
        { family: "inet", local: "10.98.1.11", address: "10.98.1.1", prefixlen: 32, scope: "global" },
        { family: "inet6", local: "fd98:1::b", address: "fd98:1::1", prefixlen: 128, scope: "global" },
        { family: "inet6", local: "fe80::1", prefixlen: 64, scope: "link" },
      ],
    },
    { ifname: "eth0", flags: ["BROADCAST", "UP"], addr_info: [{ family: "inet", local: "10.99.0.11", prefixlen: 24, scope: "global" }] },
    { ifname: "down0", flags: ["BROADCAST"], addr_info: [{ family: "inet", local: "10.5.0.1", prefixlen: 24, scope: "global" }] },
  ]);
  assert.deepEqual(connectedFromIpAddr(json), ["10.98.1.1/32", "10.99.0.0/24", "fd98:1::1/128"]);
});

test("onLinkFromIpRoute: device routes without a gateway, not tabby's, not the kernel's, not blackholes", async () => {
  const { onLinkFromIpRoute } = await import("./route-resolve.js");
  // captured shapes of `ip -j -4 route show table main` / `ip -j -6 route show table main`
  const v4 = JSON.stringify([
    { dst: "10.5.0.0/24", dev: "eth1", scope: "link", flags: [] },
    { dst: "10.98.1.1", dev: "upa", protocol: "kernel", scope: "link", prefsrc: "10.98.1.11", flags: [] },
    { dst: "10.65.0.3", dev: "tabaaaaaaaaaaa", protocol: "152", scope: "link", flags: [] },
    { dst: "10.6.0.0/24", gateway: "10.5.0.1", dev: "eth1", flags: [] },
  ]);
  assert.deepEqual(onLinkFromIpRoute(v4, 4), ["10.5.0.0/24"]);
  const v6 = JSON.stringify([
    { dst: "fd05::/64", dev: "eth1", metric: 1024, flags: [] },
    { dst: "fe80::/64", dev: "eth1", protocol: "kernel", metric: 256, flags: [] },
    { type: "blackhole", dst: "fd65::/122", dev: "lo", protocol: "152", flags: [] },
    { dst: "fd06::/64", gateway: "fd05::1", dev: "eth1", flags: [] },
  ]);
  assert.deepEqual(onLinkFromIpRoute(v6, 6), ["fd05::/64"]);
  assert.deepEqual(onLinkFromIpRoute("", 4), []);
  // read with `scope link` on the command line, ip prints no scope
  const filtered = JSON.stringify([
    { dst: "10.5.0.0/24", dev: "eth1", flags: [] },
    { dst: "10.9.0.0/24", dev: "va", protocol: "kernel", prefsrc: "10.9.0.1", flags: [] },
  ]);
  assert.deepEqual(onLinkFromIpRoute(filtered, 4, { scopeFiltered: true }), ["10.5.0.0/24"]);
  assert.deepEqual(onLinkFromIpRoute(filtered, 4), []);
});

test("resolution scales: 20,000 reflected routes through one rack range resolve in one pass", () => {
  const learned = new Map<string, string[]>([["10.98.0.0/16", ["10.98.1.1", "10.98.1.2"]]]);
  for (let i = 0; i < 20_000; i++) learned.set(`10.${64 + (i >> 8)}.${i & 255}.0/26`, [`10.98.${(i >> 8) & 255}.${10 + (i % 200)}`]);
  const r = resolveNextHops(learned, CONNECTED);
  assert.equal(r.routes.size, 20_001);
  assert.deepEqual(r.unresolved, []);
  assert.deepEqual(r.routes.get("10.64.5.0/26"), ["10.98.1.1", "10.98.1.2"]);
});
