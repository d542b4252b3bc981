/**
 * `tabby explain` in a lab (one lab for the file): with a default-deny policy and a tiered policy,
 * explain agrees with a real probe and names the deciding tier, policy and rule; a kernel route
 * deleted on purpose and an MTU mismatch planted on purpose are found at the hop where they are.
 * The agents are asked over their explain API (mutual TLS) and agree with their control sockets.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { labUnderTest, run, tabby, waitFor } from "./helpers.js";
import { probeFrom } from "./fabric-lab.js";
import type { Explanation } from "../src/explain/walk.js";
import { DEFAULT_DENY } from "./lab-scenarios.js";

const { name, env, lab } = labUnderTest("tx", "tabby-lab-explain-");

function manifest(file: string, yaml: string): string {
  const path = join(env.TABBY_LAB_ROOT, file);
  writeFileSync(path, yaml);
  return path;
}

const TIERS = `
apiVersion: projectcalico.org/v3
kind: Tier
metadata: { name: security }
spec: { order: 100 }
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: { name: security.quarantine-h3 }
spec:
  tier: security
  order: 10
  selector: host == 'h3'
  types: [Ingress]
  ingress:
    - action: Pass
      source: { selector: host == 'h1' }
    - action: Deny
`;

interface Status {
  workloads: { name: string; namespace: string; ipv4: string }[];
}

async function explain(...args: string[]): Promise<{ code: number; ex: Explanation; text: string }> {
  const r = await tabby(["explain", ...args, "--name", name, "-o", "json"], env);
  assert.ok(r.code === 0 || r.code === 1, r.stderr);
  return { code: r.code, ex: JSON.parse(r.stdout) as Explanation, text: r.stdout };
}

/** explain and a real TCP probe from the source workload agree (the dataplane may lag a change by moments). */
async function agrees(status: Status, from: string, to: string, port: number): Promise<Explanation> {
  const src = status.workloads.find((w) => w.name === from)!;
  const dst = status.workloads.find((w) => w.name === to)!;
  let last: { ex?: Explanation; reached?: boolean } = {};
  const ok = await waitFor(
    async () => {
      const { ex } = await explain(from, to, "--port", String(port));
      const [probe] = await probeFrom(src.namespace, [{ name: to, family: 4, address: dst.ipv4, protocol: "tcp", port }]);
      last = { ex, reached: probe!.reached };
      return ex.arrives === probe!.reached;
    },
    20,
    500,
  );
  assert.ok(ok, `explain says ${last.ex?.arrives}, the probe ${last.reached}: ${JSON.stringify(last.ex?.failed)}`);
  return last.ex!;
}

test("explain in the lab", { timeout: 600_000 }, async (t) => {
  const up = await lab("up", "--hosts", "3", "--workloads", "2", "--policy", manifest("deny.yaml", DEFAULT_DENY));
  assert.equal(up.code, 0, up.stdout + up.stderr);
  const status = JSON.parse((await lab("status", "-o", "json")).stdout) as Status & { hosts: { name: string; namespace: string }[] };

  await t.test("default deny: the allowed flow arrives and names its rule; the others end at the default tier", async () => {
    const allowed = await agrees(status, "h1-w1", "h2-w2", 8080);
    assert.equal(allowed.arrives, true);
    assert.deepEqual(allowed.path, ["h1-w1", "h1", "h2", "h2-w2"]);
    const ingress = allowed.steps.find((s) => s.kind === "ingress policy")!;
    assert.equal(ingress.verdict?.policy, "np lab/allow-w1-to-w2");
    assert.equal(ingress.verdict?.ruleIndex, 1);
    const route = allowed.steps.find((s) => s.kind === "route" && s.at === "h1")!;
    assert.match(route.route?.via ?? "", /^h1's agent \(explain API 10\.99\.0\.\d+:9095, from tx\d*-fabric\)$/);
    assert.ok(route.route?.bgp, "the BGP route behind the kernel route");

    const denied = await agrees(status, "h1-w1", "h2-w2", 80);
    assert.equal(denied.arrives, false);
    assert.equal(denied.failed?.kind, "ingress policy");
    assert.match(denied.failed!.reason, /end of tier default/);
    const r = await tabby(["explain", "h1-w1", "h2-w2", "--port", "80", "--name", name], env);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /does not arrive: it fails at h2/);
  });

  await t.test("over the explain API (mutual TLS) explain agrees with the control sockets; workloads cannot reach the API", async () => {
    const viaApi = await explain("h1-w1", "h3-w2", "--port", "8080");
    const viaSocket = await explain("h1-w1", "h3-w2", "--port", "8080", "--via", "control");
    // the same answers; only who was asked, and how, differs (`via`, quoted in a route step's detail)
    const strip = (ex: Explanation) =>
      JSON.parse(
        JSON.stringify(ex, (k, v: unknown) => (k === "via" ? undefined : k === "detail" && typeof v === "string" ? v.replace(/ \[[^\]]*\]$/, "") : v)),
      ) as Explanation;
    assert.deepEqual(strip(viaApi.ex), strip(viaSocket.ex));
    assert.equal(viaApi.code, viaSocket.code);
    assert.deepEqual(
      viaSocket.ex.steps.filter((s) => s.route).map((s) => s.route!.via),
      ["h1's agent", "h3's agent"],
    );
    assert.ok(viaApi.ex.steps.filter((s) => s.route).every((s) => /explain API/.test(s.route!.via)));
    // the agents' explain port joins the workload-to-control-plane drop
    const w = status.workloads.find((x) => x.name === "h1-w1")!;
    const [probe] = await probeFrom(w.namespace, [{ name: "h1-api", family: 4, address: "10.99.0.10", protocol: "tcp", port: 9095 }]);
    assert.equal(probe!.reached, false, "a workload reaches its host's explain API");
  });

  await t.test("a tiered policy: the deny in tier security is named; Pass falls through to the default tier", async () => {
    const r = await tabby(["apply", "-f", manifest("tiers.yaml", TIERS)], env);
    assert.equal(r.code, 0, r.stderr);
    const denied = await agrees(status, "h2-w1", "h3-w2", 8080);
    assert.equal(denied.failed?.kind, "ingress policy");
    const v = denied.steps.find((s) => s.kind === "ingress policy")!.verdict!;
    assert.equal(v.tier, "security");
    assert.equal(v.policy, "gnp security.quarantine-h3");
    assert.equal(v.ruleIndex, 2);
    const passed = await agrees(status, "h1-w1", "h3-w2", 8080);
    assert.equal(passed.arrives, true);
    assert.equal(passed.steps.find((s) => s.kind === "ingress policy")!.verdict!.policy, "np lab/allow-w1-to-w2");
  });

  await t.test("a deleted kernel route is found at the host that lost it", async () => {
    const h1 = status.hosts.find((h) => h.name === "h1")!;
    const before = await explain("h1-w1", "h3-w1", "--port", "8080", "--protocol", "tcp");
    const block = before.ex.steps.find((s) => s.kind === "route" && s.at === "h1")!.route!.fib!.prefix;
    const del = await run("ip", ["-n", h1.namespace, "route", "del", block]);
    assert.equal(del.code, 0, del.stderr);
    const { ex, code } = await explain("h1-w1", "h3-w1");
    assert.equal(code, 1);
    assert.equal(ex.failed?.at, "h1");
    assert.equal(ex.failed?.kind, "route");
    assert.match(ex.failed!.reason, /does not follow BGP/);
    assert.match(ex.failed!.reason, new RegExp(block.replace(/[./]/g, "\\$&")));
  });

  await t.test("an MTU mismatch is found at the link that has it, and agrees with ping -M do", async () => {
    const h2 = status.hosts.find((h) => h.name === "h2")!;
    const w = status.workloads.find((x) => x.name === "h1-w2")!;
    const dst = status.workloads.find((x) => x.name === "h2-w1")!;
    for (const f of ["tiers.yaml", "deny.yaml"]) assert.equal((await tabby(["delete", "-f", join(env.TABBY_LAB_ROOT, f)], env)).code, 0);
    const ping = (size: number) => run("ip", ["netns", "exec", w.namespace, "ping", "-M", "do", "-s", String(size), "-c", "1", "-W", "1", dst.ipv4]);
    assert.ok(await waitFor(async () => (await ping(1372)).code === 0, 20, 500), "ICMP flows once the policies are gone");
    await run("ip", ["-n", h2.namespace, "link", "set", "eth0", "mtu", "1400"]);
    try {
      const { ex, code } = await explain("h1-w2", "h2-w1", "--protocol", "icmp");
      assert.equal(code, 1);
      assert.equal(ex.failed?.kind, "mtu");
      assert.equal(ex.failed?.at, "h2");
      assert.equal(ex.pathMtu, 1400);
      assert.notEqual((await ping(1472)).code, 0, "a full-size packet is lost");
      const fits = await explain("h1-w2", "h2-w1", "--size", "1400");
      assert.equal(fits.code, 0, JSON.stringify(fits.ex.failed));
      assert.equal((await ping(1372)).code, 0, "a 1400-byte packet arrives");
    } finally {
      await run("ip", ["-n", h2.namespace, "link", "set", "eth0", "mtu", "1500"]);
    }
  });
});
