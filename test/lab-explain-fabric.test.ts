/**
 * `tabby explain` to the routed fabric lab's anycast address: from every workload, explain follows
 * the hosts' and routers' real routes (ECMP uplinks, ToRs, the spine) to one holder of the address,
 * and a real TCP probe that accepts only that holder's answer reaches it. Then the same lab as real
 * machines: explain from the spine's namespace with only the datastore and the explain client
 * certificate (no lab state), across racks: the ToRs run no agent, so their segment is inferred from
 * BGP (the ToR's BGPPeer), and the agents on both sides are asked.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { CLI, labUnderTest, run, tabby, waitFor } from "./helpers.js";
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
    const ok = await waitFor(
      async () => {
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
      },
      20,
      500,
    );
    assert.ok(ok, `${w.name} → anycast: ${last}`);
  }
});

/** Runs `tabby ARGS --datastore URL` inside `netns` (the fabric lab's datastore is SQLite: a file any namespace reads). */
async function tabbyInNetns(netns: string, datastore: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run("ip", ["netns", "exec", netns, "env", "-u", "TABBY_LAB_ROOT", process.execPath, CLI, ...args, "--datastore", datastore]);
}

test("as real machines: across racks the ToRs are crossed by inference from BGP, the agents on both sides asked", { timeout: 600_000 }, async () => {
  const status = await fabricStatus(name, env);
  const spine = status.routers.find((r) => r.role === "spine")!;
  const src = status.workloads[0]!;
  const srcRack = status.hosts.find((h) => h.name === src.host)!.rack;
  const dst = status.workloads.find((w) => status.hosts.find((h) => h.name === w.host)!.rack !== srcRack)!;
  const dir = join(env.TABBY_LAB_ROOT, name);
  const { datastore } = JSON.parse(readFileSync(join(dir, "state.json"), "utf8")) as { datastore: string };
  assert.match(datastore, /^sqlite:/);
  const pki = join(dir, "explain-pki");
  const args = [
    "explain",
    src.ipv4,
    dst.ipv4,
    "--port",
    "80",
    "-o",
    "json",
    "--tls-ca",
    join(pki, "ca.pem"),
    "--tls-cert",
    join(pki, "explain-client.pem"),
    "--tls-key",
    join(pki, "explain-client-key.pem"),
  ];
  let last = "";
  let ex: Explanation | undefined;
  const ok = await waitFor(
    async () => {
      const r = await tabbyInNetns(spine.namespace, datastore, args);
      last = `${r.code}\n${r.stdout}\n${r.stderr}`;
      if (r.code !== 0) return false;
      ex = JSON.parse(r.stdout) as Explanation;
      return true;
    },
    10,
    1000,
  );
  assert.ok(ok && ex, last);
  assert.equal(ex.arrives, true, last);
  // the ToR: not asked, inferred from the BGPPeer the source's host learned the route from
  assert.equal(ex.inferred?.length, 1, last);
  const inf = ex.inferred![0]!;
  assert.match(inf.bgpPeer, /^lab-/);
  assert.equal(inf.continuedAt, dst.host);
  assert.ok(ex.path.includes(`router ${inf.router}`), last);
  const routed = ex.steps.filter((s) => s.route).map((s) => s.route!.via);
  assert.deepEqual(
    routed.map((v) => v.split("'")[0]),
    [src.host, dst.host],
    last,
  );
  assert.ok(
    routed.every((v) => /agent \(/.test(v)),
    "the hosts' agents were asked over their explain API",
  );
});
