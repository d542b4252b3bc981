/**
 * Metrics and health in a lab (issue 14 parts 1-2): `tabby lab up --hosts 2 --workloads 1
 * --datastore etcd` (etcd, so it can be frozen). Every agent serves /metrics and /readyz on
 * its own loopback; the test scrapes them from inside each host's namespace with curl.
 *  - every listed family is present with sane values after the lab comes up;
 *  - a BGP session going down shows in tabby_bgp_* (h2's agent stopped), and /readyz on h1
 *    fails its bgp check until h2 is back;
 *  - a resource that fails validation, written straight into etcd, counts in
 *    tabby_datastore_invalid_resources_total and is the datastore's last error in node status;
 *  - a FelixConfiguration change of the endpoints while the agent runs shows in node status;
 *  - /readyz is 503 while etcd is frozen, 503 before a restarted agent's first sync, 200 after.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { alive, CLI, labUnderTest, run, tabby, waitFor } from "./helpers.js";

let etcdPid: number | undefined;
// registered before the lab's own cleanup, so a frozen etcd is thawed before `lab down` stops it
after(() => {
  if (etcdPid === undefined) return;
  try {
    process.kill(etcdPid, "SIGCONT");
  } catch {
    /* gone */
  }
});
const { name, env, lab } = labUnderTest("tm", "ttm-lab-");
const root = env.TABBY_LAB_ROOT;

interface State {
  datastore: string;
  processes: { role: string; name: string; pid: number }[];
}
const state = () => JSON.parse(readFileSync(join(root, name, "state.json"), "utf8")) as State;

async function get(host: string, path: string, port: number): Promise<{ status: number; body: string }> {
  const r = await run("ip", ["netns", "exec", `${name}-${host}`, "curl", "-s", "-m", "5", "-w", "\n%{http_code}", `http://127.0.0.1:${port}${path}`]);
  const i = r.stdout.lastIndexOf("\n");
  return { status: Number(r.stdout.slice(i + 1)) || 0, body: r.stdout.slice(0, i) };
}
const scrape = async (host: string) => (await get(host, "/metrics", 9091)).body;
const readyz = async (host: string) => {
  const r = await get(host, "/readyz", 9099);
  let checks: { name: string; ok: boolean; detail: string }[] = [];
  try {
    checks = (JSON.parse(r.body) as { checks: typeof checks }).checks;
  } catch {
    /* no answer */
  }
  return { status: r.status, checks };
};

/** The value of the sample `name{labels}` (labels as written, in order; "" for none). */
function sample(text: string, metric: string, labels = ""): number | undefined {
  const head = labels ? `${metric}{${labels}} ` : `${metric} `;
  const line = text.split("\n").find((l) => l.startsWith(head));
  return line === undefined ? undefined : Number(line.slice(head.length));
}

test("lab metrics and health: families, a session down, an invalid resource, readiness across a frozen datastore and a restart", {
  timeout: 420_000,
}, async (t) => {
  const up = await lab("up", "--hosts", "2", "--workloads", "1", "--datastore", "etcd");
  assert.equal(up.code, 0, up.stdout + up.stderr);
  assert.match(up.stdout, /metrics: every agent serves http:\/\/127\.0\.0\.1:9091\/metrics/);
  const st = state();
  etcdPid = st.processes.find((p) => p.role === "etcd")!.pid;
  const h1Peer = 'peer="10.99.0.12",peer_as="64512",type="mesh"';

  await t.test("every family is present with sane values", async () => {
    // learned routes arrive a moment after the session: wait for the peer's prefixes
    let m = "";
    await waitFor(async () => (sample((m = await scrape("h1")), "tabby_bgp_peer_prefixes_accepted", h1Peer) ?? 0) > 0, 50, 200);
    const checks: [string, string, (v: number) => boolean][] = [
      ["tabby_bgp_sessions", 'state="Established"', (v) => v === 1],
      ["tabby_bgp_peer_state", `${h1Peer},state="Established"`, (v) => v === 1],
      ["tabby_bgp_peer_up", h1Peer, (v) => v === 1],
      ["tabby_bgp_peer_uptime_seconds", h1Peer, (v) => v >= 0],
      ["tabby_bgp_peer_prefixes_received", h1Peer, (v) => v >= 2],
      ["tabby_bgp_peer_prefixes_accepted", h1Peer, (v) => v >= 2],
      ["tabby_bgp_peer_prefixes_advertised", h1Peer, (v) => v >= 2],
      ["tabby_bgp_peer_updates_received_total", h1Peer, (v) => v >= 1],
      ["tabby_bgp_peer_updates_sent_total", h1Peer, (v) => v >= 1],
      ["tabby_bgp_peer_flaps_total", h1Peer, (v) => v === 0],
      ["tabby_dataplane_apply_duration_seconds_count", "", (v) => v >= 1],
      ["tabby_dataplane_apply_errors_total", "", (v) => v === 0],
      ["tabby_dataplane_resyncs_total", "", (v) => v >= 0],
      ["tabby_dataplane_drift_repaired_total", "", (v) => v === 0],
      ["tabby_dataplane_programmed", "", (v) => v === 1],
      ["tabby_dataplane_routes", 'kind="local"', (v) => v >= 1],
      ["tabby_dataplane_routes", 'kind="learned"', (v) => v >= 2],
      ["tabby_dataplane_route_problems", "", (v) => v === 0],
      ["tabby_dataplane_nft_chains", "", (v) => v >= 1],
      ["tabby_dataplane_nft_rules", "", (v) => v >= 1],
      ["tabby_policy_endpoints", 'type="workload"', (v) => v === 1],
      ["tabby_policy_policies", "", (v) => v >= 0],
      ["tabby_policy_rules", "", (v) => v >= 0],
      ["tabby_policy_ipsets", "", (v) => v >= 0],
      ["tabby_datastore_sync_state", 'state="in-sync"', (v) => v === 1],
      ["tabby_datastore_watch_events_total", "", (v) => v >= 5],
      ["tabby_datastore_reconnects_total", "", (v) => v >= 0],
      ["tabby_ipam_blocks", 'pool="lab-ipv4",cidr="10.65.0.0/16"', (v) => v >= 2],
      ["tabby_ipam_addresses_in_use", 'pool="lab-ipv4",cidr="10.65.0.0/16"', (v) => v >= 2],
      ["process_cpu_seconds_total", "", (v) => v > 0],
      ["process_resident_memory_bytes", "", (v) => v > 1e6],
    ];
    const bad = checks.filter(([n, l, ok]) => {
      const v = sample(m, n, l);
      return v === undefined || !ok(v);
    });
    assert.deepEqual(
      bad.map(([n, l]) => `${n}{${l}} = ${sample(m, n, l)}`),
      [],
      m.slice(0, 6000),
    );
    assert.match(m, /^# TYPE tabby_convergence_seconds histogram$/m);
    assert.match(m, /^# TYPE tabby_datastore_invalid_resources_total counter$/m);
    // the other host too
    assert.equal(sample(await scrape("h2"), "tabby_bgp_peer_up", 'peer="10.99.0.11",peer_as="64512",type="mesh"'), 1);
    const r = await readyz("h1");
    assert.equal(r.status, 200, JSON.stringify(r.checks));
    assert.deepEqual(
      r.checks.map((c) => `${c.name} ${c.ok}`),
      ["datastore true", "dataplane true", "bgp true"],
    );
    assert.equal((await get("h1", "/livez", 9099)).status, 200);
    assert.equal((await get("h1", "/readiness", 9099)).status, 200);
  });

  await t.test("a session going down changes tabby_bgp_* on the other side and fails its readiness", async () => {
    const h2 = state().processes.find((p) => p.role === "agent" && p.name === "h2")!;
    process.kill(h2.pid, "SIGTERM"); // a clean stop: h1 gets a Cease at once
    await waitFor(async () => !alive(h2.pid), 100, 100);
    let m = "";
    const down = await waitFor(async () => sample((m = await scrape("h1")), "tabby_bgp_peer_up", h1Peer) === 0, 50, 200);
    assert.ok(down, m.slice(0, 3000));
    assert.equal(sample(m, "tabby_bgp_peer_state", `${h1Peer},state="Established"`), 0);
    assert.equal(sample(m, "tabby_bgp_sessions", 'state="Established"'), 0);
    assert.equal(sample(m, "tabby_bgp_peer_flaps_total", h1Peer), 1);
    assert.equal(sample(m, "tabby_bgp_peer_prefixes_accepted", h1Peer), 0);
    const r = await readyz("h1");
    assert.equal(r.status, 503);
    assert.deepEqual(
      r.checks.find((c) => c.name === "bgp"),
      { name: "bgp", ok: false, detail: "0 of 1 peers Established" },
    );
    // node status shows the same checks
    const ns = await tabby(["lab", "exec", "--name", name, "h1", "--", "tabby", "node", "status"], env);
    assert.match(ns.stdout, /Readiness: NOT ready/);
    assert.match(ns.stdout, /bgp\s+FAIL\s+0 of 1 peers Established/);
    const back = await lab("restart", "h2");
    assert.equal(back.code, 0, back.stderr);
    assert.ok(await waitFor(async () => sample(await scrape("h1"), "tabby_bgp_peer_up", h1Peer) === 1, 100, 300), "session back up");
    assert.ok(await waitFor(async () => (await readyz("h1")).status === 200, 50, 300), "h1 ready again");
  });

  await t.test("a resource that fails validation, written behind the API's back, is counted and reported", async () => {
    const before = sample(await scrape("h1"), "tabby_datastore_invalid_resources_total", 'kind="GlobalNetworkPolicy"') ?? 0;
    const open = fileURLToPath(new URL("../src/datastore/open.js", import.meta.url));
    const key = "/calico/resources/v3/projectcalico.org/globalnetworkpolicies/broken";
    const value = JSON.stringify({
      apiVersion: "projectcalico.org/v3",
      kind: "GlobalNetworkPolicy",
      metadata: { name: "broken" },
      spec: { selector: "role ==" },
    });
    const script = `const { openStore } = await import(${JSON.stringify(open)}); const s = await openStore(${JSON.stringify(st.datastore)}, {}); await s.put(${JSON.stringify(key)}, ${JSON.stringify(value)}); await s.close();`;
    const w = await run("ip", ["netns", "exec", `${name}-fabric`, process.execPath, "--input-type=module", "-e", script]);
    assert.equal(w.code, 0, w.stderr);
    assert.ok(
      await waitFor(
        async () => (sample(await scrape("h1"), "tabby_datastore_invalid_resources_total", 'kind="GlobalNetworkPolicy"') ?? 0) === before + 1,
        50,
        200,
      ),
    );
    const ns = await tabby(["lab", "exec", "--name", name, "h1", "--", "tabby", "node", "status"], env);
    assert.match(ns.stdout, /last error \S+ ago: invalid GlobalNetworkPolicy broken: .*selector/);
    // treated as absent: the agent goes on programming, and stays ready
    const m = await scrape("h1");
    assert.equal(sample(m, "tabby_dataplane_apply_errors_total"), 0);
    assert.equal(sample(m, "tabby_dataplane_programmed"), 1);
    assert.equal((await readyz("h1")).status, 200);
    const del = await run("ip", [
      "netns",
      "exec",
      `${name}-fabric`,
      process.execPath,
      "--input-type=module",
      "-e",
      script.replace(/await s\.put\([^)]*\)/, `await s.delete(${JSON.stringify(key)})`),
    ]);
    assert.equal(del.code, 0, del.stderr);
  });

  await t.test("a FelixConfiguration change of the endpoints while running is reported, not silently ignored", async () => {
    const file = join(root, "felix.yaml");
    writeFileSync(file, "apiVersion: projectcalico.org/v3\nkind: FelixConfiguration\nmetadata:\n  name: node.h1\nspec:\n  prometheusMetricsPort: 9200\n");
    const applied = await run("ip", ["netns", "exec", `${name}-fabric`, process.execPath, CLI, "apply", "-f", file, "--datastore", st.datastore]);
    assert.equal(applied.code, 0, applied.stderr);
    let out = "";
    const seen = await waitFor(
      async () => /restart the agent to apply/.test((out = (await tabby(["lab", "exec", "--name", name, "h1", "--", "tabby", "node", "status"], env)).stdout)),
      50,
      200,
    );
    assert.ok(seen, out);
    assert.ok((await scrape("h1")).includes("tabby_bgp_sessions"), "still served where it was");
    const del = await run("ip", [
      "netns",
      "exec",
      `${name}-fabric`,
      process.execPath,
      CLI,
      "delete",
      "felixconfiguration",
      "node.h1",
      "--datastore",
      st.datastore,
    ]);
    assert.equal(del.code, 0, del.stderr);
  });

  await t.test("/readyz is 503 while etcd is frozen and before a restarted agent's first sync, 200 after", async () => {
    process.kill(etcdPid!, "SIGSTOP");
    try {
      let r = await readyz("h1");
      const frozen = await waitFor(async () => (r = await readyz("h1")).status === 503, 40, 500);
      assert.ok(frozen, JSON.stringify(r));
      assert.match(r.checks.find((c) => c.name === "datastore")!.detail, /does not answer|not in sync/);
      // a restarted agent cannot sync while etcd is frozen: its health says so from the start
      const rs = await lab("restart", "h2");
      assert.equal(rs.code, 0, rs.stderr);
      let r2 = await readyz("h2");
      assert.ok(await waitFor(async () => (r2 = await readyz("h2")).status === 503, 40, 250), JSON.stringify(r2));
      await new Promise((res) => setTimeout(res, 3000));
      r2 = await readyz("h2");
      assert.equal(r2.status, 503, "still not ready while the datastore is frozen");
      assert.equal(r2.checks.find((c) => c.name === "datastore")!.ok, false);
    } finally {
      process.kill(etcdPid!, "SIGCONT");
    }
    assert.ok(await waitFor(async () => (await readyz("h1")).status === 200, 60, 500), "h1 ready after the thaw");
    let r2 = await readyz("h2");
    assert.ok(await waitFor(async () => (r2 = await readyz("h2")).status === 200, 120, 500), `h2 ready after its first sync: ${JSON.stringify(r2)}`);
  });
});
