/**
 * `tabby explain` to the routed fabric lab's anycast address: from every workload, explain follows
 * the hosts' and routers' real routes (ECMP uplinks, ToRs, the spine) to one holder of the address,
 * and a real TCP probe that accepts only that holder's answer reaches it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { labUnderTest, tabby, waitFor } from "./helpers.js";
import { fabricStatus, probeFrom } from "./fabric-lab.js";
import type { Explanation } from "../src/explain/walk.js";

const { name, env, lab } = labUnderTest("tz", "tabby-lab-explain-fabric-");

test("explain to the fabric's anycast address agrees with a probe that names the holder", { timeout: 600_000 }, async () => {
  const up = await lab("up", "--topology", "fabric", "--workloads", "1");
  assert.equal(up.code, 0, up.stdout + up.stderr);
  const status = await fabricStatus(name, env);
  const anycast = status.anycast.find((a) => !a.address.includes(":"))!;
  for (const w of status.workloads) {
    let last = "";
    const ok = await waitFor(async () => {
      const r = await tabby(["explain", w.name, anycast.address, "--port", "80", "--name", name, "-o", "json"], env);
      last = r.stdout + r.stderr;
      if (r.code !== 0) return false;
      const ex = JSON.parse(r.stdout) as Explanation;
      const holder = ex.path[ex.path.length - 1]!;
      if (!anycast.workloads.includes(holder)) return false;
      // the path crosses a router unless the holder is on the source's own host
      const sameHost = status.workloads.find((x) => x.name === holder)!.host === w.host;
      if (!sameHost && !ex.steps.some((s) => s.kind === "route" && /kernel$/.test(s.route?.via ?? ""))) return false;
      const [p] = await probeFrom(w.namespace, [{ name: holder, family: 4, address: anycast.address, protocol: "tcp", port: 80, accept: [holder] }]);
      last += `\nprobe: ${JSON.stringify(p)}`;
      return p!.reached;
    }, 20, 500);
    assert.ok(ok, `${w.name} → anycast: ${last}`);
  }
});
