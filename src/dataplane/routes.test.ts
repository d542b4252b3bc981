import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { FakeRunner } from "./exec.js";
import { RouteTable, diffRoutes, parseIpRoutes, renderBatch, type Route } from "./routes.js";

// Captured from iproute2 6.1 / Linux 6.18 after installing these routes with proto 152.
const V4_JSON = `[{"dst":"10.1.0.0/24","flags":[],"nexthops":[{"gateway":"10.9.0.2","dev":"va","weight":1,"flags":[]},{"gateway":"10.9.0.3","dev":"va","weight":1,"flags":[]}]},{"type":"blackhole","dst":"10.2.0.0/24","flags":[]},{"dst":"10.3.0.1","dev":"vb","scope":"link","flags":[]},{"dst":"10.4.0.0/24","gateway":"10.9.0.2","dev":"va","flags":[]}]`;
const V6_JSON = `[{"dst":"fd01::/64","metric":1024,"flags":[],"pref":"medium","nexthops":[{"gateway":"fd00::2","dev":"va","weight":1,"flags":[]},{"gateway":"fd00::3","dev":"va","weight":1,"flags":[]}]},{"type":"blackhole","dst":"fd02::/64","dev":"lo","metric":1024,"flags":[],"pref":"medium"},{"dst":"fd03::1","dev":"vb","metric":1024,"flags":[],"pref":"medium"}]`;
// Older kernels list IPv6 ECMP as one entry per next hop.
const V6_SPLIT_JSON = `[{"dst":"fd01::/64","gateway":"fd00::2","dev":"va","metric":1024,"flags":[]},{"dst":"fd01::/64","gateway":"fd00::3","dev":"va","metric":1024,"flags":[]}]`;

test("parseIpRoutes reads unicast, blackhole, device and ECMP routes of both families", () => {
  assert.deepEqual(parseIpRoutes(V4_JSON, 4), [
    { dst: "10.1.0.0/24", type: "unicast", dev: "va", via: ["10.9.0.2", "10.9.0.3"] },
    { dst: "10.2.0.0/24", type: "blackhole" },
    { dst: "10.3.0.1/32", type: "unicast", dev: "vb", scope: "link" },
    { dst: "10.4.0.0/24", type: "unicast", dev: "va", via: ["10.9.0.2"] },
  ]);
  assert.deepEqual(parseIpRoutes(V6_JSON, 6), [
    { dst: "fd01::/64", type: "unicast", dev: "va", via: ["fd00::2", "fd00::3"] },
    { dst: "fd02::/64", type: "blackhole" },
    { dst: "fd03::1/128", type: "unicast", dev: "vb" },
  ]);
  assert.deepEqual(parseIpRoutes(V6_SPLIT_JSON, 6), [{ dst: "fd01::/64", type: "unicast", dev: "va", via: ["fd00::2", "fd00::3"] }]);
  assert.deepEqual(parseIpRoutes("", 4), []);
});

const desired: Route[] = [
  { dst: "10.1.0.0/24", type: "unicast", via: ["10.9.0.3", "10.9.0.2"] },
  { dst: "10.2.0.0/24", type: "blackhole" },
  { dst: "10.3.0.1/32", type: "unicast", dev: "vb", scope: "link" },
  { dst: "fd01::/64", type: "unicast", via: ["fd00::2", "fd00::3"] },
  { dst: "fd02::/64", type: "blackhole" },
  { dst: "fd03::1/128", type: "unicast", dev: "vb" },
];

test("diffRoutes: read-back of what was installed needs no change", () => {
  const actual = [...parseIpRoutes(V4_JSON, 4), ...parseIpRoutes(V6_JSON, 6)];
  const ops = diffRoutes([...desired, { dst: "10.4.0.0/24", type: "unicast", via: ["10.9.0.2"] }], actual);
  assert.deepEqual(ops, { replace: [], remove: [], added: 0 });
});

test("diffRoutes + renderBatch: golden ip -batch text for adds, changes and removals", () => {
  const actual = [...parseIpRoutes(V4_JSON, 4), ...parseIpRoutes(V6_JSON, 6)];
  const want: Route[] = [
    { dst: "10.1.0.0/24", type: "unicast", via: ["10.9.0.2"] }, // ECMP → single
    { dst: "10.2.0.0/24", type: "unicast", dev: "va" }, // blackhole → device route
    { dst: "10.3.0.1", type: "unicast", dev: "vb", scope: "link" }, // same (bare address = /32)
    { dst: "10.5.0.0/26", type: "blackhole" }, // new
    { dst: "fd01::/64", type: "unicast", via: ["fd00::3", "fd00::2", "fd00::4"] }, // one more next hop
    { dst: "fd03::1/128", type: "unicast", dev: "vb" }, // same
    { dst: "fd05::/122", type: "unicast", via: ["fd00::2", "fd00::3"], dev: "va" }, // new ECMP
  ];
  const ops = diffRoutes(want, actual);
  assert.equal(ops.added, 2);
  assert.equal(
    renderBatch(ops),
    [
      "route del blackhole 10.2.0.0/24 proto 152",
      "route del 10.4.0.0/24 proto 152",
      "route del blackhole fd02::/64 proto 152",
      "route replace 10.1.0.0/24 via 10.9.0.2 proto 152",
      "route replace 10.2.0.0/24 dev va scope link proto 152",
      "route replace blackhole 10.5.0.0/26 proto 152",
      "route replace fd01::/64 proto 152 nexthop via fd00::2 nexthop via fd00::3 nexthop via fd00::4",
      "route replace fd05::/122 proto 152 nexthop via fd00::2 dev va nexthop via fd00::3 dev va",
      "",
    ].join("\n"),
  );
});

test("diffRoutes converges: applying the ops to actual yields desired (property)", () => {
  const routeArb = fc.record({
    dst: fc.constantFrom("10.0.0.0/24", "10.0.1.0/24", "10.0.2.5/32", "fd00::/64", "fd00:1::5/128"),
    type: fc.constantFrom("unicast" as const, "blackhole" as const),
    via: fc.constantFrom(undefined, ["192.0.2.1"], ["192.0.2.1", "192.0.2.2"]),
  });
  const fix = (r: { dst: string; type: "unicast" | "blackhole"; via: readonly string[] | undefined }): Route => {
    if (r.type === "blackhole") return { dst: r.dst, type: "blackhole" };
    const v6 = r.dst.includes(":");
    return r.via
      ? { dst: r.dst, type: "unicast", via: r.via.map((v) => (v6 ? v.replace("192.0.2.", "2001:db8::") : v)) }
      : { dst: r.dst, type: "unicast", dev: "x" };
  };
  const uniq = (rs: Route[]) => [...new Map(rs.map((r) => [r.dst, r])).values()];
  fc.assert(
    fc.property(fc.array(routeArb.map(fix)), fc.array(routeArb.map(fix)), (d, a) => {
      const want = uniq(d);
      const have = uniq(a);
      const ops = diffRoutes(want, have);
      const removed = new Set(ops.remove.map((r) => `${r.dst}|${r.type}`));
      const after = new Map(have.filter((r) => !removed.has(`${r.dst}|${r.type}`)).map((r) => [r.dst, r]));
      for (const r of ops.replace) after.set(r.dst, r);
      assert.deepEqual(diffRoutes(want, [...after.values()]), { replace: [], remove: [], added: 0 });
      assert.equal(after.size, want.length);
    }),
  );
});

test("RouteTable.reconcile reads both families in the namespace and applies one batch", async () => {
  const runner = new FakeRunner().on("-4 route show", { stdout: V4_JSON }).on("-6 route show", { stdout: V6_JSON });
  const table = new RouteTable(runner, { netns: "ns1" });
  const res = await table.reconcile(desired);
  assert.deepEqual(res, { added: 0, removed: 1, replaced: 0, refused: [] });
  assert.deepEqual(runner.lines(), [
    "[ns1] ip -j -4 route show proto 152 table main",
    "[ns1] ip -j -6 route show proto 152 table main",
    "[ns1] ip -force -batch -",
  ]);
  assert.equal(runner.calls[2]!.input, "route del 10.4.0.0/24 proto 152\n");
});

test("RouteTable.reconcile runs nothing when in sync, and reports a failed batch", async () => {
  const runner = new FakeRunner().on("-4 route show", { stdout: V4_JSON }).on("-6 route show", { stdout: "[]" });
  const table = new RouteTable(runner);
  const v4 = parseIpRoutes(V4_JSON, 4);
  assert.deepEqual(await table.reconcile(v4), { added: 0, removed: 0, replaced: 0, refused: [] });
  assert.equal(runner.calls.length, 2);
  runner.on("-batch", { code: 2, stderr: "Error: Nexthop has invalid gateway." });
  await assert.rejects(table.reconcile([]), (e: Error & { code?: string }) => e.code === "DP_COMMAND_FAILED" && /invalid gateway/.test(e.message));
});

test("RouteTable.reconcile with reread: false diffs against its last complete reconcile; a failure or a first call reads", async () => {
  const runner = new FakeRunner().on("-4 route show", { stdout: V4_JSON }).on("-6 route show", { stdout: "[]" });
  const table = new RouteTable(runner);
  const v4 = parseIpRoutes(V4_JSON, 4);
  await table.reconcile(v4, { reread: false }); // nothing known yet: reads
  assert.equal(runner.calls.length, 2);
  const more: Route[] = [...v4, { dst: "10.9.0.0/26", type: "unicast", via: ["10.99.0.12"] }];
  await table.reconcile(more, { reread: false });
  assert.deepEqual(runner.lines().slice(2), ["ip -force -batch -"], "no read: the last reconcile was complete");
  assert.equal(runner.calls[2]!.input, "route replace 10.9.0.0/26 via 10.99.0.12 proto 152\n");
  await table.reconcile(more, { reread: false });
  assert.equal(runner.calls.length, 3, "in sync with what it wrote: nothing to run");
  // a refused line: the kernel differs from the desired set, so the next call reads it again
  runner.on("-batch", { code: 1, stderr: "Error: Nexthop has invalid gateway.\nCommand failed -:1\n" }, { once: true });
  await table.reconcile([...more, { dst: "10.8.0.0/26", type: "unicast", via: ["10.77.0.1"] }], { reread: false });
  await table.reconcile(more, { reread: false });
  // (the fake kernel never changes, so after a read the batch is due again)
  assert.deepEqual(runner.lines().slice(4), ["ip -j -4 route show proto 152 table main", "ip -j -6 route show proto 152 table main", "ip -force -batch -"]);
  const before = runner.calls.length;
  await table.reconcile(more);
  assert.deepEqual(
    runner.lines().slice(before, before + 2),
    ["ip -j -4 route show proto 152 table main", "ip -j -6 route show proto 152 table main"],
    "reread (the default) reads",
  );
});

test("parseBatchFailures: each refused line with the kernel's reason", async () => {
  const { parseBatchFailures } = await import("./routes.js");
  const lines = [
    "route replace 10.1.0.0/24 via 10.9.9.9 proto 152",
    "route replace blackhole 10.2.0.0/24 proto 152",
    "route replace 10.3.0.0/24 via 10.9.9.8 proto 152",
    "route del 10.4.0.0/24 proto 152",
  ];
  // captured from iproute2 6.1 `ip -force -batch -`
  const stderr =
    "Error: Nexthop has invalid gateway.\nCommand failed -:1\nError: Nexthop has invalid gateway.\nCommand failed -:3\nRTNETLINK answers: No such process\nCommand failed -:4\n";
  assert.deepEqual(parseBatchFailures(stderr, lines), [
    { line: lines[0], dst: "10.1.0.0/24", op: "replace", reason: "Error: Nexthop has invalid gateway." },
    { line: lines[2], dst: "10.3.0.0/24", op: "replace", reason: "Error: Nexthop has invalid gateway." },
    { line: lines[3], dst: "10.4.0.0/24", op: "del", reason: "RTNETLINK answers: No such process" },
  ]);
});

test("RouteTable.reconcile: a refused route does not block the others and is reported", async () => {
  const runner = new FakeRunner().on("-4 route show", { stdout: "[]" }).on("-6 route show", { stdout: "[]" });
  runner.on("-batch", { code: 1, stderr: "Error: Nexthop has invalid gateway.\nCommand failed -:1\n" });
  const table = new RouteTable(runner);
  const res = await table.reconcile([
    { dst: "10.1.0.0/24", type: "unicast", via: ["10.9.9.9"] },
    { dst: "10.2.0.0/24", type: "blackhole" },
  ]);
  assert.equal(runner.calls[2]!.args.join(" "), "-force -batch -");
  assert.deepEqual([res.added, res.refused.map((r) => [r.dst, r.reason])], [1, [["10.1.0.0/24", "Error: Nexthop has invalid gateway."]]]);
  assert.deepEqual(
    table.refusals.map((r) => r.dst),
    ["10.1.0.0/24"],
  );
});
