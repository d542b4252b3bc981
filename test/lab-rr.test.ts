/**
 * `tabby lab up --topology rr`: two tabby route reflectors (standalone `tabby bgp run`, one
 * cluster) replace the node-to-node mesh; every host peers with both and only with them; every
 * workload reaches every other; a reflector killed with SIGKILL loses no route (the other still
 * reflects everything); `lab status` shows the reflectors and `lab down` stops them; each
 * reflector serves its metrics on its namespace's loopback.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { alive, labUnderTest, netnsList, run, tabby, waitFor } from "./helpers.js";

const { name, env, lab } = labUnderTest("tr", "tabby-lab-rr-");

interface Status {
  topology: string;
  hosts: { name: string; namespace: string; ipv4: string }[];
  reflectors: { name: string; namespace: string; ipv4: string; ipv6: string; pid: number; running: boolean }[];
  workloads: { name: string }[];
}

interface NodePeer {
  address: string;
  established: boolean;
  prefixesAccepted: number;
}

const hostPeers = async (host: string) => {
  const r = await tabby(["lab", "exec", "--name", name, host, "--", "tabby", "node", "status", "-o", "json"], env);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as NodePeer[];
};

test("lab --topology rr: reflectors instead of the mesh, and one may die", { timeout: 300_000 }, async (t) => {
  const up = await lab("up", "--topology", "rr", "--hosts", "3", "--workloads", "1");
  assert.equal(up.code, 0, up.stdout + up.stderr);
  assert.match(up.stdout, /route reflectors/);

  const st = JSON.parse((await lab("status", "-o", "json")).stdout) as Status;
  assert.equal(st.topology, "rr");
  assert.deepEqual(
    st.reflectors.map((r) => [r.name, r.ipv4, r.ipv6, r.running]),
    [
      ["rr1", "10.99.0.2", "fd99::2", true],
      ["rr2", "10.99.0.3", "fd99::3", true],
    ],
  );
  const text = (await lab("status")).stdout;
  assert.match(text, /REFLECTOR/);
  assert.match(text, /rr1\s+\S+-rr1\s+10\.99\.0\.2/);

  const check = await lab("check");
  assert.equal(check.code, 0, check.stdout + check.stderr);
  assert.match(check.stdout, /36 of 36 checks as expected/);

  await t.test("hosts peer only with the reflectors; each reflector has every host as a client", async () => {
    for (const h of st.hosts) {
      const peers = await hostPeers(h.name);
      assert.deepEqual(peers.map((p) => p.address).sort(), ["10.99.0.2", "10.99.0.3"]);
      // two blocks (v4, v6) from each of the two other hosts, from each reflector
      assert.ok(
        peers.every((p) => p.established && p.prefixesAccepted === 4),
        JSON.stringify(peers),
      );
    }
    for (const rr of st.reflectors) {
      const r = await tabby(["bgp", "peers", "--control", join(env.TABBY_LAB_ROOT, name, `${rr.name}.sock`), "-o", "json"]);
      assert.equal(r.code, 0, r.stderr);
      const peers = JSON.parse(r.stdout) as NodePeer[];
      assert.deepEqual(peers.map((p) => p.address).sort(), st.hosts.map((h) => h.ipv4).sort());
      assert.ok(
        peers.every((p) => p.established),
        r.stdout,
      );
      // the lab turns metrics on for every reflector, on its own namespace's loopback
      const m = await run("ip", ["netns", "exec", rr.namespace, "curl", "-s", "-m", "5", "http://127.0.0.1:9091/metrics"]);
      assert.match(m.stdout, new RegExp(`^tabby_bgp_sessions\\{state="Established"\\} ${st.hosts.length}$`, "m"), m.stdout.slice(0, 2000));
    }
  });

  await t.test("SIGKILL of one reflector keeps every workload reachable", async () => {
    const rr1 = st.reflectors[0]!;
    process.kill(rr1.pid, "SIGKILL");
    assert.equal(await waitFor(async () => !alive(rr1.pid), 50, 100), true);
    const after1 = JSON.parse((await lab("status", "-o", "json")).stdout) as Status;
    assert.equal(after1.reflectors[0]!.running, false);
    // the hosts notice the loss (connection reset, or the 9 s hold timer at worst)
    assert.equal(await waitFor(async () => (await hostPeers("h1")).find((p) => p.address === rr1.ipv4)?.established === false, 60, 250), true);
    const again = await lab("check");
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.match(again.stdout, /36 of 36 checks as expected/);
  });

  const rr2 = st.reflectors[1]!;
  const down = await lab("down");
  assert.equal(down.code, 0, down.stderr);
  assert.deepEqual(
    (await netnsList()).filter((n) => n.startsWith(`${name}-`)),
    [],
  );
  assert.equal(alive(rr2.pid), false, `reflector rr2 (pid ${rr2.pid}) still runs`);
});
