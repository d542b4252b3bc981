/**
 * BFD in the routed fabric (issue #13): `tabby lab up --topology fabric --tor bird --bfd 100`
 * puts `failureDetectionMode: BFDIfDirectlyConnected` on the ToR BGPPeers, 100 ms × 3 timers on
 * the agents and `bfd on` in the BIRD ToRs. Cutting the h1↔r1a link silently (`lab drill
 * h1:r1a`: every packet dropped, carrier up) under a 10 ms prober in every workload loses at
 * most what the 300 ms detection time allows (packets lost ≤ detection / 10 ms per flow + a
 * margin for the kernel update). With BFD taken off the BGPPeers (the agents stop it at once)
 * the same cut waits for the 9 s hold time: clearly more lost; and an agent killed with SIGKILL
 * and restarted loses nothing (the ToRs are graceful restart helpers). Packet counts are asserted,
 * never wall-clock times.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { labUnderTest, tabby, waitFor } from "./helpers.js";

const { name, env, lab, checkPasses } = labUnderTest("tfb", "tabby-lab-failover-fabric-");

interface Drill {
  bfd: { minRx: number; multiplier: number } | null;
  results: { target: string; flows: number; flowsHit: number; sent: number; lost: number; longestGapMs: number }[];
}

interface H1Peer {
  address: string;
  state: string;
  bfd?: string;
}

async function h1Peers(): Promise<H1Peer[]> {
  const r = await tabby(["lab", "exec", "--name", name, "h1", "--", "tabby", "node", "status", "-o", "json"], env);
  return r.code === 0 ? (JSON.parse(r.stdout) as H1Peer[]) : [];
}

/**
 * h1's sessions with both of its ToRs are there and satisfy `ok`. Never true of an empty answer:
 * `node status` fails (no answer within its 5 s on a starved machine, the agent restarting) and
 * then h1Peers() is [], which `[].every(...)` would take for "all done" — the kill drill then ran
 * while the BGPPeer change was still resetting the sessions (or BFD still ran), and lost packets.
 */
async function bothToRs(ok: (p: H1Peer) => boolean): Promise<boolean> {
  const peers = await h1Peers();
  return ["10.98.1.1", "10.98.1.2"].every((a) => peers.some((p) => p.address === a && ok(p)));
}

async function drillCut(downSeconds: number): Promise<Drill["results"][number]> {
  const r = await lab("drill", "h1:r1a", "--down", String(downSeconds), "--settle", "4", "-o", "json");
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const d = JSON.parse(r.stdout) as Drill;
  return d.results[0]!;
}

test("fabric with BFD: a silent host↔ToR cut costs the detection time, without BFD the hold time", { timeout: 420_000 }, async (t) => {
  const up = await lab("up", "--topology", "fabric", "--tor", "bird", "--hosts", "1", "--workloads", "1", "--bfd", "100");
  assert.equal(up.code, 0, up.stdout + up.stderr);
  const upToR = () => waitFor(async () => (await h1Peers()).find((p) => p.address === "10.98.1.1")?.state === "Established", 60, 250);
  const bfdUp = await waitFor(() => bothToRs((p) => p.bfd?.startsWith("Up (detection 300 ms)") === true), 60, 250);
  assert.equal(bfdUp, true, JSON.stringify(await h1Peers()));

  let withBfd = 0;
  await t.test("with BFD (100 ms × 3): lost within the detection time", async () => {
    const r = await drillCut(3);
    assert.equal(r.flows, 2);
    assert.ok(r.sent > 200, `the probers ran (${r.sent} sent)`);
    assert.ok(r.lost > 0, "the cut was felt");
    // per flow: 300 ms of detection at one packet per 10 ms, plus 20 for the kernel update
    assert.ok(r.lost <= r.flows * (300 / 10 + 20), `${r.lost} lost (longest gap ${r.longestGapMs} ms)`);
    withBfd = r.lost;
    const log = readFileSync(join(env.TABBY_LAB_ROOT, name, "h1.log"), "utf8");
    assert.match(log, /BFD down: resetting the BGP session/);
    assert.match(log, /"msg":"convergence","node":"h1","event":"peer-down"/);
  });

  await t.test("without BFD: the same cut waits for the hold time (9 s)", async () => {
    assert.equal(await upToR(), true, "r1a is back after the heal");
    // the lab's BGPPeers without failureDetectionMode (GTSM stays: the ToRs require it)
    const file = join(env.TABBY_LAB_ROOT, "no-bfd.yaml");
    writeFileSync(
      file,
      ["r1a", "r1b"]
        .map(
          (r, i) =>
            `apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: { name: lab-${r} }\nspec: { nodeSelector: "rack == 'r1'", peerIP: 10.98.1.${i + 1}, asNumber: 65001, ttlSecurity: 1 }\n`,
        )
        .join("---\n"),
    );
    const state = JSON.parse(readFileSync(join(env.TABBY_LAB_ROOT, name, "state.json"), "utf8")) as { datastore: string };
    const applied = await tabby(["apply", "-f", file, "--datastore", state.datastore], env);
    assert.equal(applied.code, 0, applied.stderr);
    assert.equal(await waitFor(() => bothToRs((p) => p.bfd === undefined && p.state === "Established"), 60, 250), true, JSON.stringify(await h1Peers()));
    // That change itself costs traffic (measured: 2.6 s of both flows at load 8): tabby restarts
    // a session whose peer configuration changed, and the ToR (BIRD, \`bfd on\`) resets its side
    // when the BFD session goes AdminDown, withdrawing h1's routes until the session is back.
    // The kill drill below must count the kill's loss only: every probe passes first.
    await checkPasses();
    // the ToRs are graceful restart helpers towards the hosts: an agent crash costs nothing
    const k = await lab("drill", "h1", "--settle", "3", "-o", "json");
    assert.equal(k.code, 0, k.stdout + k.stderr);
    const kr = (JSON.parse(k.stdout) as Drill).results[0]!;
    assert.ok(kr.sent > 100, `the probers ran (${kr.sent} sent)`);
    assert.equal(kr.lost, 0, `agent kill -9 in the fabric: ${kr.lost} of ${kr.sent} lost`);
    assert.equal(await upToR(), true);
    const r = await drillCut(12);
    assert.ok(r.lost > 3 * Math.max(withBfd, 20), `without BFD ${r.lost} lost, with BFD ${withBfd}`);
    assert.ok(r.lost >= 200, `at least 2 s worth of one flow lost waiting for the hold time: ${r.lost}`);
  });
});
