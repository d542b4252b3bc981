/**
 * Golden text of the renderer for the fixture states (src/dataplane/nft/testdata/*.nft;
 * UPDATE_GOLDEN=1 rewrites them), the per-rule match rendering, delta scripts, and, when run
 * as root with nft installed, `nft -c -f` (check mode, in a throwaway namespace) on every script.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { FIXTURES } from "../../testkit/dataplane/nft/fixtures.js";
import { applyEvents, emptyState } from "./state.js";
import { deltaScript, fullScript, renderTable } from "./render.js";
import { renderMatch } from "./match.js";
import { forwardHead, forwardTail } from "./fastpath.js";
import { ExecRunner, FakeRunner } from "../exec.js";
import { NftDataplane } from "./driver.js";

const GOLDEN_DIR = fileURLToPath(new URL("../../../../src/dataplane/nft/testdata/", import.meta.url));

function render(name: string): string {
  return fullScript(renderTable(applyEvents(emptyState(), FIXTURES[name]!)));
}

for (const name of Object.keys(FIXTURES)) {
  test(`golden: ${name}`, () => {
    const got = render(name);
    const file = `${GOLDEN_DIR}${name}.nft`;
    if (process.env.UPDATE_GOLDEN) {
      mkdirSync(GOLDEN_DIR, { recursive: true });
      writeFileSync(file, got);
    }
    assert.equal(got, readFileSync(file, "utf8"));
  });
}

test("rule matching: family restriction by nets, ICMP and ipVersion", () => {
  assert.deepEqual(renderMatch({ dstNets: ["192.168.0.0/16"] }), [{ family: 4, text: "ip daddr 192.168.0.0/16" }]);
  assert.deepEqual(renderMatch({ srcNets: ["fd00::1/128", "10.0.0.1/32"] }), [
    { family: 4, text: "ip saddr 10.0.0.1" },
    { family: 6, text: "ip6 saddr fd00::1" },
  ]);
  assert.deepEqual(renderMatch({ protocol: 6, dstPorts: [{ first: 80, last: 80 }] }), [{ text: "meta l4proto 6 th dport 80" }]);
  assert.deepEqual(renderMatch({ ipVersion: 6, protocol: 17 }), [{ family: 6, text: "meta nfproto ipv6 meta l4proto 17" }]);
  assert.deepEqual(renderMatch({ protocol: 1 }), [{ family: 4, text: "meta nfproto ipv4 meta l4proto 1" }]);
  assert.deepEqual(renderMatch({ ipVersion: 4, srcNets: ["fd00::/8"] }), [], "an IPv4 rule with only IPv6 nets matches nothing");
  assert.deepEqual(renderMatch({}), [{ text: "" }]);
  assert.deepEqual(
    renderMatch({ srcIpSets: ["a"], notDstIpSets: ["b"] }).map((m) => m.family),
    [4, 6],
  );
  assert.deepEqual(renderMatch({ protocol: 1, notIcmpType: 3, notIcmpCode: 1 }), [
    { family: 4, text: "meta l4proto 1 icmp type != 3" },
    { family: 4, text: "meta l4proto 1 icmp type 3 icmp code != 1" },
  ]);
});

test("delta: a set membership change touches set elements only", () => {
  const state = applyEvents(emptyState(), FIXTURES["k8s-default-deny"]!);
  const before = renderTable(state);
  applyEvents(state, [{ kind: "ipset-delta", id: "s:frontend", added: ["10.65.9.9", "fd00:1::9"], removed: ["10.65.1.7"] }]);
  const script = deltaScript(before, renderTable(state))!;
  // A removal flushes the set and declares it whole; an addition declares the added element
  // (no add/delete element commands: nft 1.0.6 loads every set's elements for those).
  const v4 = [...before.sets.keys()].find((n) => n.startsWith("n4-") && before.sets.get(n)!.elements.has("10.65.1.7"))!;
  const v6 = [...before.sets.keys()].find((n) => n === "n6-" + v4.slice(3))!;
  const whole = [...renderTable(state).sets.get(v4)!.elements].join(", ");
  assert.ok(whole.includes("10.65.9.9") && !whole.includes("10.65.1.7"), whole);
  assert.equal(
    script,
    `flush set inet tabby ${v4}\ntable inet tabby {\n\tset ${v4} {\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\tcomment "s:frontend"\n\t\telements = { ${whole} }\n\t}\n` +
      `\tset ${v6} {\n\t\ttype ipv6_addr\n\t\tflags interval\n\t\tcomment "s:frontend"\n\t\telements = { fd00:1::9 }\n\t}\n}\n`,
  );
  assert.doesNotMatch(script, /(add|delete) element/);
  assert.equal(deltaScript(renderTable(state), renderTable(state)), "");
});

test("delta: a covering net replaces the nets it contains in one transaction", () => {
  const state = applyEvents(emptyState(), FIXTURES["k8s-default-deny"]!);
  const before = renderTable(state);
  applyEvents(state, [{ kind: "ipset-delta", id: "s:frontend", added: ["10.65.0.0/16"], removed: [] }]);
  const script = deltaScript(before, renderTable(state))!;
  assert.match(
    script,
    /^flush set inet tabby n4-\w+\ntable inet tabby \{\n\tset n4-\w+ \{\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\tcomment "s:frontend"\n\t\telements = \{ 10\.65\.0\.0\/16 \}\n\t\}\n\}\n$/,
  );
});

test("delta: a policy change rewrites its chain only; a new endpoint adds its chains and map entries", () => {
  const state = applyEvents(emptyState(), FIXTURES["k8s-default-deny"]!);
  const before = renderTable(state);
  applyEvents(state, [
    {
      kind: "policy-update",
      id: "np/ns1/allow-frontend",
      ingress: [{ id: "r0", action: "allow", match: { protocol: 6, srcIpSets: ["s:frontend"], dstPorts: [{ first: 81, last: 81 }] } }],
      egress: [],
    },
  ]);
  const script = deltaScript(before, renderTable(state))!;
  const lines = script.trim().split("\n");
  assert.equal(lines.filter((l) => l.startsWith("flush chain")).length, 1);
  assert.ok(
    lines.every((l) => /^(flush chain|add rule) inet tabby pi-\w+/.test(l)),
    script,
  );
  const mid = renderTable(state);
  const w = FIXTURES["k8s-default-deny"]!.find((e) => e.kind === "workload-endpoint-update")!;
  applyEvents(state, [{ ...w, id: "wep/b", iface: "tab0000000000b", addrs: ["10.65.0.11"] } as typeof w]);
  const s2 = deltaScript(mid, renderTable(state))!;
  assert.match(s2, /\tset wl-src4 \{\n\t\ttype ifname \. ipv4_addr\n\t\tflags interval\n\t\telements = \{ "tab0000000000b" \. 10\.65\.0\.11 \}/);
  assert.match(s2, /add chain inet tabby fw-tab0000000000b\n/);
  assert.match(s2, /\tmap wl-from-map \{\n\t\ttype ifname : verdict\n\t\telements = \{ "tab0000000000b" : goto fw-tab0000000000b \}/);
  assert.ok(s2.indexOf("add chain inet tabby fw-tab0000000000b") < s2.indexOf("map wl-from-map"), "the chain exists before the map points at it");
  assert.doesNotMatch(s2, /(add|delete) element/);
  assert.doesNotMatch(s2, /flush chain/);
});

test("driver: nothing before in-sync, then one full replace, then deltas", async () => {
  const runner = new FakeRunner();
  const dp = new NftDataplane(runner, { netns: "x", epoch: 0x7fff });
  const events = FIXTURES["k8s-default-deny"]!;
  await dp.apply(events.slice(0, -1));
  assert.equal(runner.calls.length, 0);
  await dp.apply(events.slice(-1));
  assert.deepEqual(runner.lines(), ["[x] nft -f -"]);
  assert.ok(runner.calls[0]!.input!.startsWith("table inet tabby\ndelete table inet tabby\ntable inet tabby {\n"));
  await dp.apply([{ kind: "ipset-delta", id: "s:frontend", added: ["10.65.9.9"], removed: [] }]);
  // The set's new element, and the forward hook moved to the next policy epoch (0x7fff wraps
  // to 1) in the same transaction: established connections are judged again (fastpath.ts).
  const [sets, fw] = runner.calls[1]!.input!.split("flush chain inet tabby filter-fw\n");
  assert.match(
    sets!,
    /^table inet tabby \{\n\tset n4-\w+ \{\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\tcomment "s:frontend"\n\t\telements = \{ 10\.65\.9\.9 \}\n\t\}\n\}\n$/,
  );
  assert.equal(
    fw,
    forwardHead(1)
      .concat(['iifname "tab*" jump wl-cp', 'iifname "tab*" jump from-wl', 'oifname "tab*" jump to-wl', forwardTail(1)])
      .map((r) => `add rule inet tabby filter-fw ${r}\n`)
      .join(""),
  );
  assert.equal(dp.epoch, 1);
  await dp.apply([]);
  assert.equal(runner.calls.length, 2, "no change, no transaction");
});

test("driver: a failed delta falls back to a full replace", async () => {
  const runner = new FakeRunner();
  const dp = new NftDataplane(runner);
  await dp.apply(FIXTURES["k8s-default-deny"]!);
  runner.on(/nft -f -/, (c) => ({ code: c.input!.startsWith("table inet tabby {") ? 1 : 0, stderr: "No such file" }), { once: true });
  await dp.apply([{ kind: "ipset-delta", id: "s:frontend", added: ["10.65.9.9"], removed: [] }]);
  assert.equal(dp.stats.fullReplaces, 2);
  assert.equal(runner.calls.length, 3);
});

test("driver: a pass with no events does nothing once the kernel holds the state, but retries after a failure", async () => {
  const runner = new FakeRunner();
  const dp = new NftDataplane(runner);
  await dp.apply(FIXTURES["k8s-default-deny"]!);
  const programmed = runner.calls.length;
  await dp.apply([]);
  assert.equal(runner.calls.length, programmed, "in sync: no transaction");
  // every nft run fails: the delta, then the full replace it falls back to
  let failing = true;
  runner.on(/nft -f -/, () => (failing ? { code: 1, stderr: "Error: Could not process rule" } : {}));
  await assert.rejects(dp.apply([{ kind: "ipset-delta", id: "s:frontend", added: ["10.65.9.9"], removed: [] }]));
  const failed = runner.calls.length;
  assert.ok(failed > programmed);
  // the next pass brings no event, yet the state it failed to program is programmed now
  failing = false;
  await dp.apply([]);
  assert.equal(runner.calls.length, failed + 1, "the failed state is tried again");
  assert.match(runner.calls.at(-1)!.input ?? "", /10\.65\.9\.9/);
  await dp.apply([]);
  assert.equal(runner.calls.length, failed + 1, "then in sync again");
});

function canRunNft(): boolean {
  try {
    return process.getuid?.() === 0 && execFileSync("nft", ["--version"], { encoding: "utf8" }).startsWith("nftables");
  } catch {
    return false;
  }
}

test("nft -c accepts every rendered script (full and delta)", { skip: !canRunNft() && "needs root and nft" }, () => {
  const ns = `ttnf${process.pid}chk`;
  execFileSync("ip", ["netns", "add", ns]);
  try {
    for (const name of Object.keys(FIXTURES)) {
      execFileSync("ip", ["netns", "exec", ns, "nft", "-c", "-f", "-"], { input: render(name) });
    }
    // Deltas are checked against a table that exists: load one fixture for real, check deltas to every other.
    const base = renderTable(applyEvents(emptyState(), FIXTURES["k8s-default-deny"]!));
    execFileSync("ip", ["netns", "exec", ns, "nft", "-f", "-"], { input: fullScript(base) });
    for (const name of Object.keys(FIXTURES)) {
      const script = deltaScript(base, renderTable(applyEvents(emptyState(), FIXTURES[name]!)));
      if (script) execFileSync("ip", ["netns", "exec", ns, "nft", "-c", "-f", "-"], { input: script });
    }
  } finally {
    execFileSync("ip", ["netns", "del", ns]);
  }
});

test("property: a rendered rule never matches a family its match rules out", async () => {
  const fc = (await import("fast-check")).default;
  const net = fc.oneof(fc.constantFrom("10.0.0.0/8", "192.168.1.1", "0.0.0.0/0"), fc.constantFrom("fd00::/8", "2001:db8::1", "::/0"));
  const nets = fc.option(fc.array(net, { minLength: 1, maxLength: 3 }), { nil: undefined });
  const match = fc.record(
    {
      ipVersion: fc.constantFrom(4, 6) as import("fast-check").Arbitrary<4 | 6>,
      protocol: fc.constantFrom(1, 6, 17, 58),
      srcNets: nets,
      notDstNets: nets,
      srcIpSets: fc.constant<string[]>(["s:x"]),
      dstNamedPortIpSets: fc.constant<string[]>(["n:y"]),
      dstPorts: fc.constant<{ first: number; last: number }[]>([{ first: 80, last: 81 }]),
    },
    { requiredKeys: [] },
  );
  fc.assert(
    fc.property(match, (m) => {
      const out = renderMatch(m);
      const v4only = [m.srcNets, m.notDstNets].some((l) => l?.every((n) => !n.includes(":")));
      const v6only = [m.srcNets, m.notDstNets].some((l) => l?.every((n) => n.includes(":")));
      for (const r of out) {
        if (/\bip6 |icmpv6|ipv6/.test(r.text)) assert.equal(r.family, 6, r.text);
        if (/\bip |\bicmp |ipv4/.test(r.text)) assert.equal(r.family, 4, r.text);
        if (r.family === undefined) assert.ok(!m.ipVersion && !v4only && !v6only && m.protocol !== 1 && m.protocol !== 58);
        if (v4only || m.ipVersion === 4 || m.protocol === 1) assert.equal(r.family, 4);
        if (v6only || m.ipVersion === 6 || m.protocol === 58) assert.equal(r.family, 6);
      }
      // A rule restricted by nothing serves both families.
      if (!m.ipVersion && !m.srcNets && !m.notDstNets && m.protocol !== 1 && m.protocol !== 58) {
        const fams = new Set(out.map((r) => r.family));
        assert.ok(fams.has(undefined) || (fams.has(4) && fams.has(6)), JSON.stringify(m));
      }
    }),
    { numRuns: 500 },
  );
});

test("driver: concurrent applies run one after another, in call order", async () => {
  const runner = new FakeRunner();
  const dp = new NftDataplane(runner);
  const a = dp.apply(FIXTURES["k8s-default-deny"]!);
  const b = dp.apply([{ kind: "ipset-delta", id: "s:frontend", added: ["10.65.9.9"], removed: [] }]);
  const c = dp.apply([{ kind: "ipset-delta", id: "s:frontend", added: [], removed: ["10.65.9.9"] }]);
  await Promise.all([a, b, c]);
  assert.equal(runner.calls.length, 3);
  assert.match(runner.calls[1]!.input!, /^table inet tabby \{\n\tset n4-\w+ \{\n.*\n.*\n.*\n\t\telements = \{ [^}]*10\.65\.9\.9/);
  assert.match(runner.calls[2]!.input!, /^flush set inet tabby n4-/);
  assert.doesNotMatch(runner.calls[2]!.input!, /10\.65\.9\.9/);
});

test("natOutgoing: the NAT chain and pool sets come and go by delta", { skip: !canRunNft() && "needs root and nft" }, () => {
  const ns = `tti2nf${process.pid}`;
  execFileSync("ip", ["netns", "add", ns]);
  try {
    const nft = (args: string[], input?: string) => execFileSync("ip", ["netns", "exec", ns, "nft", ...args], { input: input ?? "", encoding: "utf8" });
    const nat = renderTable(applyEvents(emptyState(), FIXTURES["nat-outgoing"]!));
    const plain = renderTable(applyEvents(emptyState(), FIXTURES["log-rate-limit"]!));
    nft(["-f", "-"], fullScript(nat));
    assert.match(nft(["list", "chain", "inet", "tabby", "nat-post"]), /ip saddr @nat-pools4 ip daddr != @all-pools4 ip daddr != @cp-nodes4 masquerade/);
    nft(["-f", "-"], deltaScript(nat, plain)!);
    assert.doesNotMatch(nft(["list", "table", "inet", "tabby"]), /nat-post|nat-pools|all-pools/);
    nft(["-f", "-"], deltaScript(plain, nat)!);
    assert.match(nft(["list", "set", "inet", "tabby", "all-pools4"]), /10\.65\.0\.0\/16, 10\.66\.0\.0\/16/);
  } finally {
    execFileSync("ip", ["netns", "del", ns]);
  }
});

test("kernel: random membership changes by delta (flush + declare) leave no drift", { skip: !canRunNft() && "needs root and nft" }, async () => {
  const ns = `ttps${process.pid}d`;
  execFileSync("ip", ["netns", "add", ns]);
  try {
    const fc = (await import("fast-check")).default;
    const dp = new NftDataplane(new ExecRunner(), { netns: ns });
    await dp.apply(FIXTURES["k8s-default-deny"]!);
    // Overlapping and adjacent nets, hosts inside them, both families: the renderer makes them
    // disjoint, so a covering net replaces what it covers (a removal: flush + the set whole).
    const pool = [
      "10.65.0.0/16",
      "10.65.1.0/24",
      "10.65.1.7",
      "10.65.2.0/26",
      "10.65.2.64/26",
      "10.65.2.9",
      "10.66.0.1",
      "fd00:1::/64",
      "fd00:1::7",
      "fd00:2::1",
    ];
    const arb = fc.array(fc.tuple(fc.subarray(pool, { maxLength: 3 }), fc.subarray(pool, { maxLength: 3 })), { minLength: 12, maxLength: 12 });
    const [steps] = fc.sample(arb, { numRuns: 1, seed: 4242 });
    for (const [added, removed] of steps!) {
      await dp.apply([{ kind: "ipset-delta", id: "s:frontend", added, removed: removed.filter((r) => !added.includes(r)) }]);
      assert.doesNotMatch(dp.stats.lastScript, /(add|delete) element/);
      assert.deepEqual(await dp.drift(), [], dp.stats.lastScript);
    }
    assert.equal(dp.stats.fullReplaces, 1, "every delta applied as is");
  } finally {
    execFileSync("ip", ["netns", "del", ns]);
  }
});

test("control plane: a node joining or leaving changes the node-address set only", () => {
  const state = applyEvents(emptyState(), FIXTURES["control-plane"]!);
  const before = renderTable(state);
  const cp = state.controlPlane;
  applyEvents(state, [{ ...cp, nodeAddrs: [...cp.nodeAddrs, "10.99.0.14"] }]);
  const joined = renderTable(state);
  assert.equal(
    deltaScript(before, joined),
    'table inet tabby {\n\tset cp-nodes4 {\n\t\ttype ipv4_addr\n\t\tcomment "every node\'s addresses"\n\t\telements = { 10.99.0.14 }\n\t}\n}\n',
  );
  applyEvents(state, [{ ...cp, nodeAddrs: cp.nodeAddrs.filter((a) => a !== "fd00:99::12") }]);
  const script = deltaScript(joined, renderTable(state))!;
  assert.ok(
    script.split("\n").every((l) => !/chain|rule/.test(l)),
    script,
  );
  assert.match(script, /^flush set inet tabby cp-nodes4\nflush set inet tabby cp-nodes6\n/);
  // Opening a workload is an element of cp-open, not a rule either.
  applyEvents(state, [{ ...state.controlPlane, openInterfaces: [] }]);
  assert.match(deltaScript(before, renderTable(state))!, /^flush set inet tabby cp-nodes6\nflush set inet tabby cp-open\n/);
});
