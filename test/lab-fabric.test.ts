/**
 * `tabby lab up --topology fabric` (issue #11), AS per rack, one BIRD and one FRR ToR per rack
 * (`--tor mixed`), a BIRD spine: every workload reaches every other over IPv4 and IPv6 and the
 * anycast address; a host's routes to the other rack's blocks are multipath over both ToRs; the
 * rack's own routes, reflected with the originating host as next hop, are resolved recursively
 * over both ToRs (and no learned route is left out of the kernel); a ToR
 * never gets back from a host what the host learned from the other ToR; killing one ToR's daemon
 * in each rack keeps everything reachable; the anycast address is still reached once one of its
 * workloads is deleted; `lab down` leaves nothing. One lab for the whole file. That each host
 * peers only with its own rack's ToRs needs the agent to honour BGPPeer `nodeSelector` (the
 * bgpmodel work); before it, every host also tries the other racks' ToRs (those stay Active).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { alive, labUnderTest, netnsList, tabby, waitFor } from "./helpers.js";
import { assertNoTransit, fabricStatus, hostOriginated, hostRoutes, probeFrom, type FabricStatus } from "./fabric-lab.js";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { LabState } from "../src/lab/state.js";
import { queryControl } from "../src/bgp/control.js";
import type { RouteView } from "../src/bgp/speaker.js";
import { unplugWorkload } from "../src/lab/up.js";
import { CHECKS } from "../src/lab/check.js";

const { name, env, lab } = labUnderTest("tf", "tabby-lab-fabric-");
/** The lab's state.json (this process does not have the lab root in its environment). */
const readState = () => JSON.parse(readFileSync(join(env.TABBY_LAB_ROOT, name, "state.json"), "utf8")) as LabState;
const hostPeers = async (host: string) => {
  const r = await tabby(["lab", "exec", "--name", name, host, "--", "tabby", "node", "status", "-o", "json"], env);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as { address: string; established: boolean }[];
};
const passes = async () => (await lab("check")).code === 0;

test("lab --topology fabric, AS per rack, mixed BIRD/FRR ToRs", { timeout: 180_000 }, async (t) => {
  const up = await lab("up", "--topology", "fabric", "--workloads", "1");
  assert.equal(up.code, 0, up.stdout + up.stderr);
  const st: FabricStatus = await fabricStatus(name, env);

  await t.test("status lists the routers, racks and the anycast address", async () => {
    assert.equal(st.topology, "fabric");
    assert.deepEqual(st.fabric, { racks: 2, hostsPerRack: 2, tor: "mixed", asModel: "rack" });
    assert.deepEqual(
      st.routers.map((r) => [r.name, r.kind, r.role, r.rack, r.running]),
      [
        ["r1a", "bird", "tor", "r1", true],
        ["r1b", "frr", "tor", "r1", true],
        ["r2a", "bird", "tor", "r2", true],
        ["r2b", "frr", "tor", "r2", true],
        ["sp1", "bird", "spine", null, true],
      ],
    );
    assert.deepEqual(
      st.hosts.map((h) => [h.name, h.rack, h.ipv4, h.ipv6]),
      [
        ["h1", "r1", "10.98.1.11", "fd98:1::b"],
        ["h2", "r1", "10.98.1.12", "fd98:1::c"],
        ["h3", "r2", "10.98.2.11", "fd98:2::b"],
        ["h4", "r2", "10.98.2.12", "fd98:2::c"],
      ],
    );
    const text = (await lab("status")).stdout;
    assert.match(text, /ROUTER\s+ROLE\s+RACK\s+KIND/);
    assert.match(text, /r1b\s+tor\s+r1\s+frr\s+65001\s+\S+-r1b\s+running \(pid \d+\)/);
    assert.match(text, /h3\s+r2\s+\S+-h3\s+10\.98\.2\.11/);
    assert.match(text, /anycast 10\.66\.0\.1: h1-w1, h3-w1/);
    assert.deepEqual(st.anycast, [
      { address: "10.66.0.1", workloads: ["h1-w1", "h3-w1"] },
      { address: "fd66::1", workloads: ["h1-w1", "h3-w1"] },
    ]);
  });

  await t.test("every host peers with its own rack's two ToRs, established", async () => {
    for (const h of st.hosts) {
      const mine = st.routers.filter((r) => r.rack === h.rack).map((r) => (r.name.endsWith("a") ? `10.98.${h.rack.slice(1)}.1` : `10.98.${h.rack.slice(1)}.2`));
      const ok = await waitFor(
        async () => {
          const peers = await hostPeers(h.name);
          return mine.every((a) => peers.some((p) => p.address === a && p.established));
        },
        40,
        500,
      );
      assert.equal(ok, true, `${h.name}: ${JSON.stringify(await hostPeers(h.name))}`);
    }
  });

  await t.test("a BGPPeer with a nodeSelector reaches only the selected nodes", async () => {
    for (const h of st.hosts) {
      const peers = await hostPeers(h.name);
      assert.deepEqual(
        peers.map((p) => p.address).sort(),
        [`10.98.${h.rack.slice(1)}.1`, `10.98.${h.rack.slice(1)}.2`],
        `${h.name} peers with another rack's ToRs`,
      );
    }
  });

  await t.test("lab check passes over IPv4 and IPv6, anycast included", async () => {
    assert.equal(await waitFor(passes, 20, 1000), true);
    const r = await lab("check");
    // 4 workloads × 3 others × 2 families × 3 checks, and 2 anycast addresses × 4 × 3
    assert.match(r.stdout, /96 of 96 checks as expected/);
  });

  await t.test("a host's routes to the other rack's blocks are multipath over both ToRs", async () => {
    const h3 = await hostOriginated(st.hosts[2]!.namespace);
    const h4 = await hostOriginated(st.hosts[3]!.namespace);
    const remote = [...h3, ...h4];
    assert.equal(remote.length, 4, `two blocks (v4, v6) per host: ${remote.join(" ")}`);
    const ok = await waitFor(
      async () => {
        const routes = await hostRoutes(st.hosts[0]!.namespace);
        return remote.every((p) => {
          const via = (routes.get(p) ?? []).sort().join(",");
          return via === "10.98.1.1,10.98.1.2" || via === "fd98:1::1,fd98:1::2";
        });
      },
      40,
      500,
    );
    assert.equal(ok, true, JSON.stringify([...(await hostRoutes(st.hosts[0]!.namespace))]));
  });

  await t.test("routes reflected within a rack keep the originating host as next hop, resolved recursively over both ToRs", async () => {
    const state = readState();
    const [h1, h2] = [st.hosts[0]!, st.hosts[1]!];
    const h2Blocks = [...(await hostOriginated(h2.namespace))];
    assert.equal(h2Blocks.length, 2);
    const ok = await waitFor(
      async () => {
        const kernel = await hostRoutes(h1.namespace);
        for (const family of ["ipv4", "ipv6"] as const) {
          const learned = (await queryControl(join(state.dir, `${h1.name}.sock`), { op: "routes", family })) as RouteView[];
          for (const p of h2Blocks.filter((b) => b.includes(":") === (family === "ipv6"))) {
            const paths = learned.find((r) => r.prefix === p)?.paths ?? [];
            // from both ToRs, with h2 itself as the BGP next hop
            if (paths.length !== 2 || !paths.every((x) => x.nextHop === (family === "ipv4" ? h2.ipv4 : h2.ipv6))) return false;
            const via = (kernel.get(p) ?? []).sort().join(",");
            if (via !== (family === "ipv4" ? "10.98.1.1,10.98.1.2" : "fd98:1::1,fd98:1::2")) return false;
          }
        }
        return true;
      },
      40,
      500,
    );
    assert.equal(ok, true, JSON.stringify([...(await hostRoutes(h1.namespace))]));
  });

  await t.test("every learned route is in the kernel: the agents report no route problems", async () => {
    const state = readState();
    for (const h of st.hosts) assert.deepEqual(await queryControl(join(state.dir, `${h.name}.sock`), { op: "route-problems" }), [], h.name);
  });

  await t.test("a ToR gets from a host only what the host originates, never what it learned from the other ToR", async () => {
    await assertNoTransit(readState().dir, st);
  });

  await t.test("killing one ToR's daemon in each rack keeps every workload reachable", async () => {
    const victims = [st.routers.find((r) => r.name === "r1a")!, st.routers.find((r) => r.name === "r2b")!];
    for (const v of victims) process.kill(v.pid, "SIGKILL");
    for (const v of victims) assert.equal(await waitFor(async () => !alive(v.pid), 50, 100), true);
    const after = await fabricStatus(name, env);
    assert.deepEqual(
      after.routers.filter((r) => !r.running).map((r) => r.name),
      ["r1a", "r2b"],
    );
    // bounded by a few hold times (9 s): the hosts drop the dead sessions and their routes
    assert.equal(await waitFor(passes, 30, 1000), true, (await lab("check")).stdout);
  });

  await t.test("the anycast address is still reached from every workload after one of its workloads is deleted", async () => {
    const state = readState();
    const gone = state.plan.workloads.find((w) => w.name === "h1-w1")!;
    await unplugWorkload(state, gone);
    const others = st.workloads.filter((w) => w.name !== "h1-w1");
    const targets = st.anycast.flatMap((a) =>
      CHECKS.map((c) => ({ name: "anycast", family: (a.address.includes(":") ? 6 : 4) as 4 | 6, address: a.address, accept: ["h3-w1"], ...c })),
    );
    const reached = await waitFor(
      async () => {
        for (const w of others) if (!(await probeFrom(w.namespace, targets)).every((r) => r.reached)) return false;
        return true;
      },
      30,
      1000,
    );
    assert.equal(reached, true);
  });

  const pids = st.routers.map((r) => r.pid);
  const down = await lab("down");
  assert.equal(down.code, 0, down.stderr);
  assert.deepEqual(
    (await netnsList()).filter((n) => n.startsWith(`${name}-`)),
    [],
  );
  for (const pid of pids) assert.equal(alive(pid), false, `router pid ${pid} still runs`);
});
