/**
 * `tabby lab up --topology fabric --tor tabby`: every ToR is tabby's own `tabby bgp run` (route
 * reflector for its rack, routes into its namespace's kernel with `installRoutes`), the spine
 * BIRD. Every workload reaches every other and the anycast address over IPv4 and IPv6, a host's
 * routes to the other rack are multipath over its two ToRs, and losing a ToR loses nothing.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { alive, labUnderTest, netnsList, waitFor } from "./helpers.js";
import { fabricStatus, hostOriginated, hostRoutes } from "./fabric-lab.js";

const { name, env, lab } = labUnderTest("tft", "tabby-lab-fabric-tabby-");
const passes = async () => (await lab("check")).code === 0;

test("lab --topology fabric --tor tabby", { timeout: 150_000 }, async () => {
  const up = await lab("up", "--topology", "fabric", "--tor", "tabby", "--hosts", "1", "--workloads", "1");
  assert.equal(up.code, 0, up.stdout + up.stderr);
  const st = await fabricStatus(name, env);
  assert.deepEqual(
    st.routers.map((r) => [r.name, r.kind, r.running]),
    [
      ["r1a", "tabby", true],
      ["r1b", "tabby", true],
      ["r2a", "tabby", true],
      ["r2b", "tabby", true],
      ["sp1", "bird", true],
    ],
  );
  assert.equal(await waitFor(passes, 20, 1000), true, (await lab("check")).stdout);
  // 2 workloads × 1 other × 2 families × 3 checks, and 2 anycast addresses × 2 × 3
  assert.match((await lab("check")).stdout, /24 of 24 checks as expected/);

  const remote = [...(await hostOriginated(st.hosts[1]!.namespace))];
  const multipath = await waitFor(
    async () => {
      const routes = await hostRoutes(st.hosts[0]!.namespace);
      return remote.length === 2 && remote.every((p) => ["10.98.1.1,10.98.1.2", "fd98:1::1,fd98:1::2"].includes((routes.get(p) ?? []).sort().join(",")));
    },
    40,
    500,
  );
  assert.equal(multipath, true, JSON.stringify([...(await hostRoutes(st.hosts[0]!.namespace))]));

  const r1a = st.routers[0]!;
  process.kill(r1a.pid, "SIGKILL");
  assert.equal(await waitFor(async () => !alive(r1a.pid), 50, 100), true);
  assert.equal(await waitFor(passes, 30, 1000), true, (await lab("check")).stdout);

  const down = await lab("down");
  assert.equal(down.code, 0, down.stderr);
  assert.deepEqual(
    (await netnsList()).filter((n) => n.startsWith(`${name}-`)),
    [],
  );
});
