/**
 * NetlinkRouteTable against the kernel, in a network namespace of its own, and against the
 * `ip`-based RouteTable on the same kernel state: both must read the same routes and the same
 * connected networks, whichever of them wrote the routes.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { performance } from "node:perf_hooks";
import { ExecRunner } from "../exec.js";
import { type Route, RouteTable } from "../routes.js";
import { NetlinkRouteTable } from "./route-table.js";

const canRun = process.platform === "linux" && process.getuid?.() === 0;
const NS = `nlrt${process.pid.toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
const ip = (...args: string[]) => execFileSync("ip", ["-n", NS, ...args], { encoding: "utf8" });
const byDst = (rs: Route[]) => [...rs].sort((a, b) => (a.dst < b.dst ? -1 : a.dst > b.dst ? 1 : 0));
const skip = !canRun && "needs root (network namespaces)";

let nl: NetlinkRouteTable;
let viaIp: RouteTable;

before(() => {
  if (!canRun) return;
  execFileSync("ip", ["netns", "add", NS]);
  ip("link", "set", "lo", "up");
  ip("link", "add", "va", "type", "veth", "peer", "name", "vb");
  ip("link", "set", "va", "up");
  ip("link", "set", "vb", "up");
  ip("addr", "add", "10.77.0.1/24", "dev", "va");
  ip("addr", "add", "fd77::1/64", "dev", "va", "nodad");
  // a point-to-point address: its peer's network is connected
  ip("addr", "add", "10.88.0.1", "peer", "10.88.0.2/32", "dev", "vb");
  // someone else's routes: an on-link one of each family (connected), one via a gateway (never touched)
  ip("route", "add", "10.55.0.0/24", "dev", "va");
  ip("-6", "route", "add", "fd55::/64", "dev", "va");
  ip("route", "add", "10.66.0.0/24", "via", "10.77.0.9", "proto", "99");
  nl = new NetlinkRouteTable({ netns: NS });
  viaIp = new RouteTable(new ExecRunner(), { netns: NS });
});

after(() => {
  nl?.close();
  if (canRun) execFileSync("ip", ["netns", "del", NS], { stdio: "ignore" });
});

const mixed: Route[] = [
  { dst: "10.65.0.0/26", type: "blackhole" },
  { dst: "fd65::/122", type: "blackhole" },
  { dst: "10.65.0.5/32", type: "unicast", dev: "va" },
  { dst: "fd65::5/128", type: "unicast", dev: "va" },
  { dst: "10.70.0.0/24", type: "unicast", via: ["10.77.0.2"] },
  { dst: "10.71.0.0/24", type: "unicast", via: ["10.77.0.2"], dev: "va" },
  { dst: "10.72.0.0/24", type: "unicast", via: ["10.77.0.3", "10.77.0.2"] },
  { dst: "fd72::/64", type: "unicast", via: ["fd77::2", "fd77::3"] },
  { dst: "fd73::/64", type: "unicast", via: ["fd77::2"] },
  { dst: "0.0.0.0/0", type: "unicast", via: ["10.77.0.2"] },
];

test("netlink and ip read the same routes and connected networks, whichever wrote them", { skip }, async () => {
  const first = await nl.reconcile(mixed);
  assert.deepEqual(first, { added: mixed.length, removed: 0, replaced: 0, refused: [] });
  const a = byDst(await nl.read());
  assert.deepEqual(a, byDst(await viaIp.read()));
  assert.equal(a.length, mixed.length);
  assert.deepEqual(a.find((r) => r.dst === "10.72.0.0/24")?.via, ["10.77.0.2", "10.77.0.3"]);
  assert.deepEqual(a.find((r) => r.dst === "fd72::/64")?.via?.sort(), ["fd77::2", "fd77::3"]);
  // in sync: nothing to do
  assert.deepEqual(await nl.reconcile(mixed), { added: 0, removed: 0, replaced: 0, refused: [] });
  assert.deepEqual(await nl.connected(), await viaIp.connected());
  assert.deepEqual(await nl.connected({ v6Routes: false }), await viaIp.connected({ v6Routes: false }));
  const conn = await nl.connected();
  for (const c of ["10.77.0.0/24", "10.88.0.2/32", "10.55.0.0/24", "fd55::/64", "fd77::/64"]) assert.ok(conn.includes(c), `${c} in ${conn.join(",")}`);
  // ip writes a change (a next hop, a removal), netlink reads it as ip does; then netlink undoes it
  const changed = mixed.filter((r) => r.dst !== "fd65::/122").map((r) => (r.dst === "10.70.0.0/24" ? { ...r, via: ["10.77.0.4"] } : r));
  await viaIp.reconcile(changed);
  assert.deepEqual(byDst(await nl.read()), byDst(await viaIp.read()));
  assert.deepEqual(await nl.reconcile(mixed), { added: 1, removed: 0, replaced: 1, refused: [] });
  assert.deepEqual(await viaIp.reconcile(mixed), { added: 0, removed: 0, replaced: 0, refused: [] });
  // everything out; the other protocol's route stays
  assert.deepEqual(await nl.reconcile([]), { added: 0, removed: mixed.length, replaced: 0, refused: [] });
  assert.deepEqual(await viaIp.read(), []);
  assert.match(ip("route", "show", "10.66.0.0/24"), /^10\.66\.0\.0\/24 via 10\.77\.0\.9 dev va proto/);
});

test("a refused route is reported with its errno and the kernel's words; the others apply", { skip }, async () => {
  const desired: Route[] = [
    { dst: "10.80.0.0/24", type: "unicast", via: ["10.77.0.2"] },
    { dst: "10.81.0.0/24", type: "unicast", via: ["10.200.0.1"] }, // not on a connected network
    { dst: "10.82.0.0/24", type: "unicast", dev: "nosuchdev" },
    { dst: "10.83.0.0/24", type: "blackhole" },
  ];
  const res = await nl.reconcile(desired);
  assert.equal(res.added, 2);
  assert.deepEqual(
    res.refused.map((r) => [r.dst, r.op]),
    [
      ["10.81.0.0/24", "replace"],
      ["10.82.0.0/24", "replace"],
    ],
  );
  assert.match(res.refused[0]!.reason, /^ENETUNREACH: network is unreachable/);
  assert.equal(res.refused[0]!.line, "route replace 10.81.0.0/24 via 10.200.0.1 proto 152");
  assert.match(res.refused[1]!.reason, /^ENODEV: no such device \(nosuchdev\)$/);
  assert.deepEqual(nl.refusals, res.refused);
  assert.deepEqual(
    byDst(await viaIp.read()).map((r) => r.dst),
    ["10.80.0.0/24", "10.83.0.0/24"],
  );
  // an incomplete pass is not trusted: reread: false still reads, and retries the refused ones
  const again = await nl.reconcile(desired, { reread: false });
  assert.equal(again.added, 0);
  assert.equal(again.refused.length, 2);
  await nl.reconcile([]);
});

test("reread: false trusts its own writes until a reread", { skip }, async () => {
  const desired: Route[] = [
    { dst: "10.90.0.0/24", type: "unicast", via: ["10.77.0.2"] },
    { dst: "10.91.0.0/24", type: "blackhole" },
  ];
  await nl.reconcile(desired);
  ip("route", "del", "10.90.0.0/24", "proto", "152"); // behind its back
  assert.deepEqual(await nl.reconcile(desired, { reread: false }), { added: 0, removed: 0, replaced: 0, refused: [] });
  assert.deepEqual(
    (await nl.read()).map((r) => r.dst),
    ["10.91.0.0/24"],
  );
  assert.deepEqual(await nl.reconcile(desired), { added: 1, removed: 0, replaced: 0, refused: [] });
  // a write trusted next time: one added with reread false is known without reading
  const more = [...desired, { dst: "10.92.0.0/24", type: "blackhole" as const }];
  assert.deepEqual(await nl.reconcile(more, { reread: false }), { added: 1, removed: 0, replaced: 0, refused: [] });
  await nl.reconcile([]);
});

test("10,000 routes written, dumped back over many datagrams, and removed", { skip }, async (t) => {
  const many: Route[] = [];
  for (let i = 0; i < 10_000; i++) many.push({ dst: `10.${100 + (i >> 8)}.${i & 255}.0/24`, type: "unicast", via: ["10.77.0.2"] });
  let t0 = performance.now();
  const res = await nl.reconcile(many);
  const writeMs = performance.now() - t0;
  assert.equal(res.added, 10_000);
  assert.deepEqual(res.refused, []);
  t0 = performance.now();
  const back = await nl.read();
  const readMs = performance.now() - t0;
  assert.equal(back.length, 10_000);
  assert.deepEqual(
    byDst(back).map((r) => r.dst),
    byDst(many).map((r) => r.dst),
  );
  assert.deepEqual(byDst(back), byDst(await viaIp.read())); // the kernel names the device: both say so
  t0 = performance.now();
  const conn = await nl.connected();
  const connMs = performance.now() - t0;
  assert.ok(conn.includes("10.77.0.0/24"));
  t.diagnostic(
    `10,000 routes: written in ${writeMs.toFixed(0)} ms, read in ${readMs.toFixed(1)} ms, connected in ${connMs.toFixed(1)} ms (event loop held throughout)`,
  );
  assert.deepEqual(await nl.reconcile([]), { added: 0, removed: 10_000, replaced: 0, refused: [] });
  assert.equal((await nl.read()).length, 0);
});

test("write: in order, one answer per route; a delete of a route already gone counts as done", { skip }, async () => {
  const out = await nl.write([
    { op: "replace", route: { dst: "10.95.0.0/24", type: "unicast", via: ["10.77.0.2", "10.77.0.3"] } },
    { op: "replace", route: { dst: "10.96.0.0/24", type: "unicast", via: ["10.201.0.1"] } },
    { op: "del", route: { dst: "10.97.0.0/24", type: "unicast", via: ["10.77.0.2"] } },
  ]);
  assert.deepEqual(
    out.map((r) => r?.reason.split(":")[0]),
    [undefined, "ENETUNREACH", undefined],
  );
  assert.deepEqual(await nl.read(), [{ dst: "10.95.0.0/24", type: "unicast", dev: "va", via: ["10.77.0.2", "10.77.0.3"] }]);
  assert.deepEqual(await nl.write([{ op: "del", route: { dst: "10.95.0.0/24", type: "unicast" } }]), [undefined]);
  assert.deepEqual(await nl.read(), []);
});

test("changes in place: IPv6 ECMP next hops replaced, a unicast route becoming a blackhole and back; ip reads what netlink wrote", { skip }, async () => {
  const v1: Route[] = [
    { dst: "fd74::/64", type: "unicast", via: ["fd77::2", "fd77::3"] },
    { dst: "10.74.0.0/24", type: "unicast", via: ["10.77.0.2", "10.77.0.3"] },
    { dst: "10.75.0.0/24", type: "unicast", via: ["10.77.0.2"] },
  ];
  await nl.reconcile(v1);
  const v2: Route[] = [
    { dst: "fd74::/64", type: "unicast", via: ["fd77::4", "fd77::2"] },
    { dst: "10.74.0.0/24", type: "unicast", via: ["10.77.0.4"] },
    { dst: "10.75.0.0/24", type: "blackhole" },
  ];
  assert.deepEqual(await nl.reconcile(v2), { added: 0, removed: 1, replaced: 3, refused: [] });
  const got = byDst(await viaIp.read());
  assert.deepEqual(got, byDst(await nl.read()));
  assert.deepEqual(
    got.map((r) => [r.dst, r.type, [...(r.via ?? [])].sort()]),
    [
      ["10.74.0.0/24", "unicast", ["10.77.0.4"]],
      ["10.75.0.0/24", "blackhole", []],
      ["fd74::/64", "unicast", ["fd77::2", "fd77::4"]],
    ],
  );
  assert.deepEqual(await viaIp.reconcile(v2), { added: 0, removed: 0, replaced: 0, refused: [] }, "ip sees nothing to do");
  await nl.reconcile(v1);
  assert.deepEqual(byDst(await viaIp.read()).find((r) => r.dst === "10.75.0.0/24")?.type, "unicast");
  await nl.reconcile([]);
});

test("a namespace that is not there: DP_NETNS_MISSING, and nothing left open", { skip }, async () => {
  const t = new NetlinkRouteTable({ netns: `${NS}-gone` });
  await assert.rejects(t.read(), { code: "DP_NETNS_MISSING" });
  await assert.rejects(t.reconcile([{ dst: "10.1.0.0/24", type: "blackhole" }]), { code: "DP_NETNS_MISSING" });
});
