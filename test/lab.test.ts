/**
 * The walking skeleton end to end: `tabby lab up` builds 3 hosts × 2 workloads in network
 * namespaces running the real agent, BGP and CNI plugin; every workload reaches every other
 * over IPv4 and IPv6; routes are tabby's (proto 152) via the other hosts' fabric addresses;
 * nothing is encapsulated; a cleanly stopped agent's routes are withdrawn from the others;
 * `lab down` leaves nothing behind.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { alive, labUnderTest, netnsList, run, tabby, waitFor } from "./helpers.js";

const { name, env, lab } = labUnderTest("tt", "tabby-lab-");

async function routes(netns: string, fam: "-4" | "-6") {
  const r = await run("ip", ["-n", netns, "-j", fam, "route", "show", "proto", "152"]);
  return JSON.parse(r.stdout || "[]") as { dst: string; gateway?: string; type?: string; dev?: string; nexthops?: { gateway: string }[] }[];
}

interface Status {
  hosts: { name: string; namespace: string; ipv4: string; ipv6: string; agentPid: number; agentRunning: boolean }[];
  workloads: { name: string; host: string; namespace: string; ipv4: string; ipv6: string }[];
}

test("lab: up, check, routes, no tunnels, clean withdraw, down", { timeout: 300_000 }, async (t) => {
  // A leftover namespace from a crashed earlier lab of the same name is cleaned up by `up`.
  await run("ip", ["netns", "add", `${name}-h9`]);

  const up = await lab("up", "--hosts", "3", "--workloads", "2");
  assert.equal(up.code, 0, up.stdout + up.stderr);
  assert.match(up.stdout, /found leftovers/);
  assert.ok(!(await netnsList()).includes(`${name}-h9`));

  const again = await lab("up");
  assert.equal(again.code, 1);
  assert.match(again.stderr, /already up; run `tabby lab down`/);

  const check = await lab("check");
  assert.equal(check.code, 0, check.stdout + check.stderr);
  assert.match(check.stdout, /180 of 180 checks as expected \(180 should reach, 0 should be blocked\)/);
  assert.match(check.stdout, /every ordered pair of the 6 workloads \(the full matrix/);

  // a seeded sample of ordered pairs: printed with its seed, and the same pairs again from the seed
  const sampled = await lab("check", "--sample", "4", "--seed", "7", "-o", "json");
  assert.equal(sampled.code, 0, sampled.stdout + sampled.stderr);
  const rep = JSON.parse(sampled.stdout) as { sample: { pairs: number; of: number; seed: number }; results: { from: string; to: string }[]; failed: number };
  assert.deepEqual(rep.sample, { pairs: 4, of: 30, seed: 7, why: "as asked" });
  const pairs = [...new Set(rep.results.map((r) => `${r.from}>${r.to}`))];
  assert.equal(pairs.length, 4);
  assert.equal(rep.results.length, 4 * 6, "each pair: ICMP and two TCP ports over both families");
  const repeat = await lab("check", "--sample", "4", "--seed", "7");
  assert.equal(repeat.code, 0, repeat.stdout + repeat.stderr);
  assert.match(repeat.stdout, /sample: 4 of 30 ordered pairs \(as asked\), seed 7; `tabby lab check --name \S+ --sample 4 --seed 7`/);
  for (const p of pairs) assert.ok(repeat.stdout.includes(p.replace(">", " → ")), `${p} again with the same seed`);
  assert.match(repeat.stdout, /24 of 24 checks as expected/);
  const bad = await lab("check", "--seed", "7");
  assert.equal(bad.code, 2, bad.stdout + bad.stderr);

  const st = JSON.parse((await lab("status", "-o", "json")).stdout) as Status;
  assert.equal(st.hosts.length, 3);
  assert.equal(st.workloads.length, 6);
  for (const w of st.workloads) {
    assert.match(w.ipv4, /^10\.65\./);
    assert.match(w.ipv6, /^fd65:/);
  }

  await t.test("routes to other hosts' blocks are tabby's, via their fabric addresses", async () => {
    for (const h of st.hosts) {
      const others4 = st.hosts.filter((o) => o !== h).map((o) => o.ipv4);
      const others6 = st.hosts.filter((o) => o !== h).map((o) => o.ipv6);
      const r4 = (await routes(h.namespace, "-4")).filter((r) => r.gateway);
      const r6 = (await routes(h.namespace, "-6")).filter((r) => r.gateway);
      assert.ok(r4.length >= 2 && r6.length >= 2, `${h.name}: ${JSON.stringify({ r4, r6 })}`);
      for (const r of r4) assert.ok(others4.includes(r.gateway!), `${h.name} ${r.dst} via ${r.gateway}`);
      for (const r of r6) assert.ok(others6.includes(r.gateway!), `${h.name} ${r.dst} via ${r.gateway}`);
      // Its own blocks are blackholed, its workloads reached on their veths.
      const local = await routes(h.namespace, "-4");
      assert.ok(local.some((r) => r.type === "blackhole"));
      assert.ok(local.some((r) => r.dev?.startsWith("tab")));
    }
  });

  await t.test("no tunnel device anywhere", async () => {
    const tunnelKinds = new Set(["vxlan", "ipip", "gre", "gretap", "sit", "ip6tnl", "ip6gre", "wireguard", "geneve"]);
    for (const ns of (await netnsList()).filter((n) => n.startsWith(`${name}-`))) {
      const r = await run("ip", ["-n", ns, "-j", "-d", "link", "show"]);
      for (const l of JSON.parse(r.stdout) as { ifname: string; flags: string[]; linkinfo?: { info_kind?: string } }[]) {
        const kind = l.linkinfo?.info_kind;
        if (!kind || !tunnelKinds.has(kind)) continue;
        // The kernel's per-namespace fallback devices (tunl0, sit0, ...) appear when a tunnel
        // module is loaded; they must stay down and unused.
        assert.ok(!l.flags.includes("UP"), `${ns}: tunnel device ${l.ifname} (${kind}) is up`);
      }
    }
  });

  await t.test("node status in a host shows its established peers", async () => {
    const r = await tabby(["lab", "exec", "--name", name, "h1", "--", "tabby", "node", "status", "-o", "json"], env);
    assert.equal(r.code, 0, r.stderr);
    const peers = JSON.parse(r.stdout) as { address: string; established: boolean; prefixesAccepted: number }[];
    assert.deepEqual(peers.map((p) => p.address).sort(), ["10.99.0.12", "10.99.0.13"]);
    assert.ok(
      peers.every((p) => p.established && p.prefixesAccepted >= 2),
      r.stdout,
    );
  });

  await t.test("a cleanly stopped agent's routes are withdrawn from the others", async () => {
    const h3 = st.hosts.find((h) => h.name === "h3")!;
    const h1 = st.hosts.find((h) => h.name === "h1")!;
    const viaH3 = async () => (await routes(h1.namespace, "-4")).filter((r) => r.gateway === h3.ipv4).length;
    assert.ok((await viaH3()) > 0);
    process.kill(h3.agentPid, "SIGTERM");
    assert.equal(await waitFor(async () => (await viaH3()) === 0, 100), true);
  });

  const down = await lab("down");
  assert.equal(down.code, 0, down.stderr);
  assert.deepEqual(
    (await netnsList()).filter((n) => n.startsWith(`${name}-`)),
    [],
  );
  for (const h of st.hosts) assert.equal(alive(h.agentPid), false, `agent ${h.name} (pid ${h.agentPid}) still runs`);
});
