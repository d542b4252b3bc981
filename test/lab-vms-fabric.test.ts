/**
 * VMs in the routed fabric (issue 20): `lab up --topology fabric --vms 1` plugs a VM behind each
 * rack's ToRs, and `lab check` passes from and to every VM, anycast included (a VM's probes then
 * outgrow one serial-tty line and go in batches).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { labUnderTest } from "./helpers.js";

const { lab, checkPasses } = labUnderTest("tvf", "tabby-lab-vms-fabric-");

test("fabric lab with a VM per host: every check as expected, from and to the VMs", { timeout: 900_000 }, async () => {
  const up = await lab("up", "--topology", "fabric", "--racks", "2", "--hosts", "1", "--workloads", "1", "--vms", "1");
  assert.equal(up.code, 0, up.stdout + up.stderr);
  const st = JSON.parse((await lab("status", "-o", "json")).stdout) as { workloads: { name: string; kind: string }[] };
  assert.deepEqual(
    st.workloads.map((w) => `${w.name}:${w.kind}`),
    ["h1-w1:container", "h2-w1:container", "h1-vm1:vm", "h2-vm1:vm"],
  );
  const last = await checkPasses();
  assert.match(last, /96 of 96 checks as expected/);
  assert.match(last, /anycast 10\.66\.0\.1 \(served by [^)]*\), from: .*h1-vm1 ✓✓✓/);
});
