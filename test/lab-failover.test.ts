/**
 * Zero-loss restarts and failure drills in the mesh lab (issue #13): with graceful restart on by
 * default, `tabby lab drill h1 h2` kills each agent with SIGKILL and starts it again while every
 * workload pings a workload on the other host every 10 ms — not one packet is lost (the peers
 * keep the dead agent's routes as a graceful restart helper; the restarted agent leaves routes
 * and nftables as they are until it has resynced). `lab fail h1:fabric` cuts h1's link silently
 * and `lab heal` restores it; unknown targets are refused with the list of real ones. Packet
 * counts are asserted, never wall-clock times.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { labUnderTest, run, waitFor } from "./helpers.js";

const { name, env, lab } = labUnderTest("tfo", "tabby-lab-failover-");
process.env["TABBY_LAB_ROOT"] = env.TABBY_LAB_ROOT; // read by src/lab/state.ts when it is first imported

interface Drill {
  topology: string;
  results: { target: string; kind: string; flows: number; sent: number; lost: number; longestGapMs: number }[];
}

const ping = async (from: string, to: string) => (await run("ip", ["netns", "exec", `${name}-${from}`, "ping", "-c", "1", "-W", "1", to])).code === 0;

test("mesh lab: agent kill -9 and restart loses nothing; a cut link blackholes until healed", { timeout: 170_000 }, async (t) => {
  const up = await lab("up", "--hosts", "2", "--workloads", "1");
  assert.equal(up.code, 0, up.stdout + up.stderr);
  const state = JSON.parse(readFileSync(join(env.TABBY_LAB_ROOT, name, "state.json"), "utf8")) as { workloads: { name: string; ipv4: string }[] };
  const w2 = state.workloads.find((w) => w.name === "h2-w1")!.ipv4;

  await t.test("drill: each agent killed (SIGKILL) and restarted under a 10 ms prober: zero lost", async () => {
    const r = await lab("drill", "h1", "h2", "--settle", "3", "-o", "json");
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const d = JSON.parse(r.stdout) as Drill;
    assert.equal(d.topology, "mesh");
    assert.deepEqual(
      d.results.map((x) => [x.target, x.kind, x.flows]),
      [
        ["h1", "agent", 2],
        ["h2", "agent", 2],
      ],
    );
    for (const x of d.results) {
      assert.ok(x.sent > 200, `${x.target}: the probers ran (${x.sent} sent)`);
      assert.equal(x.lost, 0, `${x.target}: ${x.lost} of ${x.sent} lost, longest gap ${x.longestGapMs} ms`);
    }
    // the peers kept the dead agent's routes as helpers, and the restarted agent resynced
    const h2log = readFileSync(join(env.TABBY_LAB_ROOT, name, "h2.log"), "utf8");
    assert.match(h2log, /keeping its routes \(graceful restart helper\)/);
    assert.match(h2log, /graceful restart: keeping learned routes until the peers' End-of-RIB/);
  });

  await t.test("the agents say how long each change took to reach the kernel: a route learned, a workload added", async () => {
    // a workload plugged into h2 now, long after its agent's first snapshot, is an event of its own
    const { readLabState } = await import("../src/lab/state.js");
    const { addLabWorkload } = await import("../src/lab/add-workload.js");
    const { workload } = await addLabWorkload(readLabState(name)!, "h2", 2);
    assert.ok(workload.ipv4, "the CNI plugin gave the new workload an IPv4 address");
    const events = () =>
      readFileSync(join(env.TABBY_LAB_ROOT, name, "h2.log"), "utf8")
        .split("\n")
        .filter((l) => l.includes('"msg":"convergence"'))
        .map((l) => JSON.parse(l) as { event: string; prefix?: string; ms: number });
    const added = await waitFor(async () => events().some((c) => c.event === "workload-added" && c.prefix === `${workload.ipv4}/32`), 50, 200);
    const conv = events();
    assert.ok(added, `a workload-added event for ${workload.ipv4}/32 in h2's log: ${JSON.stringify(conv)}`);
    assert.ok(
      conv.some((c) => c.event === "route-learned"),
      `a route-learned event in h2's log: ${JSON.stringify(conv)}`,
    );
    assert.ok(conv.every((c) => Number.isInteger(c.ms) && c.ms >= 0));
  });

  await t.test("fail h1:fabric cuts the path silently; heal restores it", async () => {
    assert.equal(await ping("h1-w1", w2), true);
    const f = await lab("fail", "h1:fabric");
    assert.equal(f.code, 0, f.stderr);
    assert.match(f.stdout, /h1:fabric: link cut/);
    assert.equal(await ping("h1-w1", w2), false, "nothing crosses a cut link");
    const again = await lab("fail", "h1:fabric");
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already failed/);
    assert.match((await lab("status")).stdout, /failed: h1:fabric \(link\); `tabby lab heal` undoes them/);
    const h = await lab("heal");
    assert.equal(h.code, 0, h.stderr);
    assert.match(h.stdout, /h1:fabric: healed/);
    assert.equal(await waitFor(() => ping("h1-w1", w2), 20, 250), true, "the path is back");
    const bad = await lab("fail", "r9z");
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /no failure target "r9z".*h1, h2, h1:fabric, h2:fabric \[LAB_NO_TARGET\]/);
  });
});
