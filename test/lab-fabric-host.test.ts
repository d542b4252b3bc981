/**
 * `tabby lab up --topology fabric --as-model host` (issue #11): one private AS per host, eBGP to
 * its two ToRs (one BIRD, one FRR per rack, each ToR an AS of its own), a BIRD spine. Every
 * workload reaches every other and the anycast address over IPv4 and IPv6; a host's routes to the
 * other rack are multipath; and no ToR receives from a host a route that the host learned from
 * the other ToR — the host must not be a transit between its two eBGP peers. That last check needs
 * the agent's safe eBGP export defaults (no transit: the bgppolicy work); until they are in, a host
 * re-advertises what one ToR gave it to the other, and the FRR ToR (whose AS differs) keeps it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { labUnderTest, netnsList, waitFor } from "./helpers.js";
import { assertNoTransit, fabricStatus, hostOriginated, hostRoutes } from "./fabric-lab.js";
import type { LabState } from "../src/lab/state.js";

const { name, env, lab } = labUnderTest("tfh", "tabby-lab-fabric-host-");
const readState = () => JSON.parse(readFileSync(join(env.TABBY_LAB_ROOT, name, "state.json"), "utf8")) as LabState;
const passes = async () => (await lab("check")).code === 0;

test("lab --topology fabric --as-model host, mixed BIRD/FRR ToRs", { timeout: 180_000 }, async (t) => {
  const up = await lab("up", "--topology", "fabric", "--as-model", "host", "--workloads", "1");
  assert.equal(up.code, 0, up.stdout + up.stderr);
  const st = await fabricStatus(name, env);

  await t.test("every host and ToR has an AS of its own", () => {
    assert.deepEqual(st.fabric, { racks: 2, hostsPerRack: 2, tor: "mixed", asModel: "host" });
    const state = readState();
    assert.deepEqual(
      state.fabric!.hosts.map((h) => h.asNumber),
      [4200000001, 4200000002, 4200000003, 4200000004],
    );
    assert.deepEqual(
      state.fabric!.routers.map((r) => r.asNumber),
      [65011, 65012, 65021, 65022, 65000],
    );
  });

  await t.test("lab check passes over IPv4 and IPv6, anycast included", async () => {
    assert.equal(await waitFor(passes, 20, 1000), true, (await lab("check")).stdout);
    assert.match((await lab("check")).stdout, /96 of 96 checks as expected/);
  });

  await t.test("a host's routes to the other rack's blocks are multipath over both ToRs", async () => {
    const remote = [...(await hostOriginated(st.hosts[2]!.namespace)), ...(await hostOriginated(st.hosts[3]!.namespace))];
    assert.equal(remote.length, 4);
    const ok = await waitFor(
      async () => {
        const routes = await hostRoutes(st.hosts[0]!.namespace);
        return remote.every((p) => ["10.98.1.1,10.98.1.2", "fd98:1::1,fd98:1::2"].includes((routes.get(p) ?? []).sort().join(",")));
      },
      40,
      500,
    );
    assert.equal(ok, true, JSON.stringify([...(await hostRoutes(st.hosts[0]!.namespace))]));
  });

  await t.test("no host is a transit: a ToR never receives what the host learned from the other ToR", async () => {
    await assertNoTransit(readState().dir, st);
  });

  const down = await lab("down");
  assert.equal(down.code, 0, down.stderr);
  assert.deepEqual(
    (await netnsList()).filter((n) => n.startsWith(`${name}-`)),
    [],
  );
});
