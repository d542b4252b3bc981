import { test } from "node:test";
import assert from "node:assert/strict";
import { planLab } from "./plan.js";
import { planFabric } from "./fabric-plan.js";
import { planReflectors } from "./reflectors.js";
import { failRuleset, failTargets, planFailure } from "./failure-plan.js";
import { defaultDrill, probePairs } from "./drill.js";
import type { LabState } from "./state.js";

function state(topology: "mesh" | "rr" | "fabric"): LabState {
  const fabric = topology === "fabric" ? planFabric("fo", { racks: 2, hosts: 1, tor: "mixed", asModel: "rack" }) : undefined;
  const plan = planLab({ name: "fo", hosts: 2, workloads: 1 }, fabric);
  const s: LabState = { name: "fo", plan, dir: "/x", datastore: "sqlite:///x", createdAt: "", processes: [], workloads: [], ready: true, holdTime: 9 };
  if (topology === "rr") s.reflectors = planReflectors(plan);
  if (fabric) s.fabric = fabric;
  s.workloads = plan.hosts.map((h, i) => ({ name: `${h.name}-w1`, host: h.name, netns: `fo-${h.name}-w1`, ipv4: `10.65.${i}.1` }));
  return s;
}

test("targets per topology: agents everywhere, reflectors in rr, routers and their links in the fabric", () => {
  assert.deepEqual(failTargets(state("mesh")), ["h1", "h2", "h1:fabric", "h2:fabric"]);
  assert.deepEqual(failTargets(state("rr")), ["h1", "h2", "rr1", "rr2", "h1:fabric", "h2:fabric", "rr1:fabric", "rr2:fabric"]);
  const f = failTargets(state("fabric"));
  for (const t of ["h1", "r1a", "sp1", "h1:r1a", "h1:r1b", "h2:r2a", "r1a:sp1"]) assert.ok(f.includes(t), t);
  assert.ok(!f.includes("h1:r2a"), "h1 has no link to rack 2's ToR");
});

test("what each target means; either end names a link; an unknown one lists the real ones", () => {
  const fab = state("fabric");
  assert.deepEqual(planFailure(fab, "h1"), { target: "h1", kind: "agent", host: "h1" });
  assert.deepEqual(planFailure(fab, "r1a"), { target: "r1a", kind: "router", router: "r1a", netns: "fo-r1a" });
  assert.deepEqual(planFailure(fab, "h1:r1b"), { target: "h1:r1b", kind: "link", netns: "fo-h1", ifname: "upb" });
  assert.deepEqual(planFailure(fab, "r1b:h1"), { target: "r1b:h1", kind: "link", netns: "fo-h1", ifname: "upb" });
  assert.deepEqual(planFailure(fab, "r2a:sp1"), { target: "r2a:sp1", kind: "link", netns: "fo-r2a", ifname: "up-sp1" });
  assert.deepEqual(planFailure(state("rr"), "rr2"), { target: "rr2", kind: "reflector", reflector: "rr2", netns: "fo-rr2" });
  assert.deepEqual(planFailure(state("mesh"), "h2:fabric"), { target: "h2:fabric", kind: "link", netns: "fo-h2", ifname: "eth0" });
  for (const bad of ["h9", "h1:r2a", "h1:fabric:x", "h1:nowhere"]) assert.throws(() => planFailure(fab, bad), { code: "LAB_NO_TARGET" }, bad);
  assert.throws(() => planFailure(state("mesh"), "h1:r1a"), /one of: h1, h2, h1:fabric, h2:fabric/);
});

test("rulesets: a link drops only its interface, both ways; a dead router drops everything; an agent needs none", () => {
  const link = failRuleset(planFailure(state("fabric"), "h1:r1a"))!;
  assert.equal(
    link,
    [
      "table inet tabbylab_cut_upa {",
      '  chain pre { type filter hook prerouting priority -400; policy accept; iifname "upa" drop; }',
      '  chain out { type filter hook output priority -400; policy accept; oifname "upa" drop; }',
      '  chain post { type filter hook postrouting priority -400; policy accept; oifname "upa" drop; }',
      "}",
      "",
    ].join("\n"),
  );
  const dead = failRuleset(planFailure(state("fabric"), "r1a"))!;
  assert.match(dead, /^table inet tabbylab_dead \{/);
  assert.equal((dead.match(/policy accept; drop;/g) ?? []).length, 3);
  assert.equal(failRuleset(planFailure(state("fabric"), "h1")), undefined);
});

test("drill: each workload probes one on another host, another rack when there is one; default failures per topology", () => {
  const fab = state("fabric");
  assert.deepEqual(
    probePairs(fab).map((p) => `${p.from.name}→${p.to.name}`),
    ["h1-w1→h2-w1", "h2-w1→h1-w1"],
  );
  assert.deepEqual(defaultDrill(fab), ["h1", "h1:r1a", "r1a"]);
  assert.deepEqual(defaultDrill(state("rr")), ["h1", "rr1"]);
  assert.deepEqual(defaultDrill(state("mesh")), ["h1", "h2"]);
});
