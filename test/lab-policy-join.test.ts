/**
 * A new workload joins the IP sets of the policies that select it, and is reachable where they
 * allow, within moments of its label being written (issue 4: "within one second"). In a lab with
 * a default deny and an allow to app w2 only from `role: client`, a workload is plugged into h1
 * by the real CNI plugin; without the label its connections to h2's w2 are dropped, then the
 * label is written and a prober in its namespace, trying a fresh connection every 25 ms, records
 * when the first one is answered. The time from the label write to that answer is logged (not
 * asserted: the machine is shared); the test asserts the before and the after.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { tabby, run } from "./helpers.js";

const name = `tq${process.pid % 100000}`;
const dir = mkdtempSync(join(tmpdir(), "tabby-lab-join-"));
process.env["TABBY_LAB_ROOT"] = dir; // read by src/lab/state.ts when it is first imported
const env = { TABBY_LAB_ROOT: dir };
const lab = (...args: string[]) => tabby(["lab", ...args, "--name", name], env);

after(async () => {
  await lab("down");
  rmSync(dir, { recursive: true, force: true });
});

const POLICY = `
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: default-deny, namespace: lab }
spec: { selector: all(), types: [Ingress] }
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: w2-from-clients, namespace: lab }
spec:
  selector: app == 'w2'
  ingress:
    - action: Allow
      protocol: TCP
      source: { selector: role == 'client' }
      destination: { ports: [http-alt] }
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: w1-port-80-open, namespace: lab }
spec:
  selector: app == 'w1'
  ingress:
    - action: Allow
      protocol: TCP
      destination: { ports: [80] }
`;

/** One TCP attempt from `netns` (answered with the responder's name), via src/lab/probe.ts. */
async function reaches(netns: string, target: { name: string; address: string; port: number }): Promise<{ reached: boolean; error?: string }> {
  const probe = new URL("../src/lab/probe.js", import.meta.url).pathname;
  const r = await run("ip", ["netns", "exec", netns, process.execPath, probe, JSON.stringify([{ ...target, family: 4, protocol: "tcp" }])]);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { reached: boolean; error?: string }[])[0]!;
}

/**
 * Inside `netns`: a fresh connection to address:port every 25 ms (each given 500 ms); prints
 * "ready", then "ok <epoch ms>" when one is answered with `expect`.
 */
const PROBER = `
const net = require("node:net");
const [address, port, expect] = process.argv.slice(1);
let done = false;
console.log("ready");
const tryOnce = () => {
  if (done) return;
  let data = "";
  const s = net.connect({ host: address, port: Number(port) });
  const t = setTimeout(() => s.destroy(), 500);
  s.setEncoding("utf8");
  s.on("data", (d) => (data += d));
  s.on("end", () => { clearTimeout(t); s.destroy(); if (!done && data.trim() === expect) { done = true; console.log("ok " + Date.now()); process.exit(0); } });
  s.on("error", () => clearTimeout(t));
};
setInterval(tryOnce, 25);
setTimeout(() => { console.log("gave up"); process.exit(1); }, 30000);
`;

test("lab policy: a new workload joins its policies' sets and reaches w2 once labelled", { timeout: 600_000 }, async () => {
  const policy = join(dir, "policy.yaml");
  writeFileSync(policy, POLICY);
  const up = await lab("up", "--hosts", "2", "--workloads", "2", "--policy", policy);
  assert.equal(up.code, 0, up.stdout + up.stderr);

  const { readLabState } = await import("../src/lab/state.js");
  const { addLabWorkload } = await import("../src/lab/add-workload.js");
  const { setWorkloadLabels } = await import("../src/lab/workloads.js");
  const { openLabStore } = await import("../src/lab/etcd.js");
  const { ResourceClient } = await import("../src/datastore/resource-client.js");
  const state = readLabState(name);
  assert.ok(state, "lab state");
  const w2 = state.workloads.find((w) => w.name === "h2-w2")!;
  const w1 = state.workloads.find((w) => w.name === "h2-w1")!;
  assert.ok(w2.ipv4 && w1.ipv4);

  const { plan, workload } = await addLabWorkload(state, "h1", 9);
  assert.ok(workload.ipv4, "the CNI plugin gave the new workload an IPv4 address");
  const ds = await openLabStore(state);
  try {
    const client = new ResourceClient(ds.store);
    await setWorkloadLabels(client, plan, { app: "w9" });

    // Plugged and routed (w1's port 80 is open to all), but not a client: w2 drops it.
    let open = { reached: false } as { reached: boolean; error?: string };
    for (let i = 0; i < 20 && !open.reached; i++) open = await reaches(plan.netns, { name: "h2-w1", address: w1.ipv4!, port: 80 });
    assert.ok(open.reached, `the new workload reaches h2-w1:80 (${open.error})`);
    const before = await reaches(plan.netns, { name: "h2-w2", address: w2.ipv4!, port: 8080 });
    assert.equal(before.reached, false, "before the label, w2 must not be reachable");

    const prober = spawn("ip", ["netns", "exec", plan.netns, process.execPath, "-e", PROBER, w2.ipv4!, "8080", "h2-w2"], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const lines = createInterface({ input: prober.stdout })[Symbol.asyncIterator]();
    assert.equal((await lines.next()).value, "ready");
    const t0 = Date.now();
    await setWorkloadLabels(client, plan, { role: "client" });
    const written = Date.now();
    const line = String((await lines.next()).value);
    prober.kill();
    const m = /^ok (\d+)$/.exec(line);
    assert.ok(m, `after the label, w2 must become reachable (prober said ${JSON.stringify(line)})`);
    const ms = Number(m[1]) - t0;
    console.log(
      `new workload labelled role=client: first connection to h2-w2:8080 answered ${ms} ms after the label write started (the write itself took ${written - t0} ms)`,
    );
  } finally {
    await ds.close();
  }
  const check = await lab("check");
  assert.equal(check.code, 0, check.stdout + check.stderr);
});
