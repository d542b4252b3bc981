import { test } from "node:test";
import assert from "node:assert/strict";
import { AgentMetrics, type AgentMetricsSources } from "./agent-metrics.js";
import { speakerRegistry } from "./speaker-metrics.js";
import { ipamUsage } from "./ipam-usage.js";
import { invalidResource } from "./invalid-resource.js";
import { handle } from "./http.js";
import { MemoryStore } from "../datastore/memory.js";
import { resourceKey } from "../model/keys.js";
import { blockKey, encodeBlock } from "../ipam/keys.js";
import { assignNext, newBlock } from "../ipam/block.js";
import { poolFromResource } from "../ipam/pools.js";
import type { AgentPeerStatus } from "../agent/agent.js";

const peerUp: AgentPeerStatus = {
  address: "10.0.0.2",
  asNumber: 64512,
  state: "Established",
  established: true,
  uptimeSeconds: 42,
  prefixesReceived: 3,
  prefixesAccepted: 2,
  prefixesAdvertised: 5,
  updatesReceived: 7,
  updatesSent: 4,
  flaps: 1,
  type: "mesh",
};
const peerDown: AgentPeerStatus = {
  address: "10.0.0.3",
  asNumber: 64512,
  state: "Active",
  established: false,
  prefixesReceived: 0,
  prefixesAccepted: 0,
  prefixesAdvertised: 0,
  type: "mesh",
};
const refused: AgentPeerStatus = {
  address: "-",
  asNumber: 0,
  state: "Refused",
  established: false,
  prefixesReceived: 0,
  prefixesAccepted: 0,
  prefixesAdvertised: 0,
  reason: "no password",
};

/** The sample lines of one metric family, without HELP/TYPE. */
function samples(text: string, name: string): string[] {
  return text.split("\n").filter((l) => l.startsWith(name + "{") || l.startsWith(name + " "));
}

function sources(over: Partial<AgentMetricsSources> = {}): AgentMetricsSources {
  return {
    peers: () => [peerUp, peerDown, refused],
    health: () => ({ sync: "in-sync", programmed: true, peersConfigured: 2, peersEstablished: 1, lastErrors: {} }),
    routeCounts: () => ({ local: 3, learned: 4 }),
    routeProblems: () => [{ dst: "10.9.0.0/26", reason: "unresolvable" }],
    policy: () => ({ endpoints: { workload: 2, host: 1 }, policies: 3, policyRules: 9, ipsets: 4, chains: 12, rules: 40 }),
    ...over,
  };
}

test("BGP families: per-peer state, prefixes, updates and flaps read from peerStatus at scrape time", async () => {
  let peers = [peerUp, peerDown, refused];
  const m = new AgentMetrics(sources({ peers: () => peers }), { processMetrics: false });
  const text = await m.metrics();
  const L = 'peer="10.0.0.2",peer_as="64512",type="mesh"';
  assert.deepEqual(samples(text, "tabby_bgp_sessions"), [
    'tabby_bgp_sessions{state="Idle"} 0',
    'tabby_bgp_sessions{state="Connect"} 0',
    'tabby_bgp_sessions{state="Active"} 1',
    'tabby_bgp_sessions{state="OpenSent"} 0',
    'tabby_bgp_sessions{state="OpenConfirm"} 0',
    'tabby_bgp_sessions{state="Established"} 1',
    'tabby_bgp_sessions{state="Refused"} 1',
  ]);
  assert.ok(samples(text, "tabby_bgp_peer_state").includes(`tabby_bgp_peer_state{${L},state="Established"} 1`));
  assert.ok(samples(text, "tabby_bgp_peer_state").includes(`tabby_bgp_peer_state{${L},state="Active"} 0`));
  assert.deepEqual(samples(text, "tabby_bgp_peer_up"), [`tabby_bgp_peer_up{${L}} 1`, 'tabby_bgp_peer_up{peer="10.0.0.3",peer_as="64512",type="mesh"} 0']);
  assert.ok(text.includes(`tabby_bgp_peer_uptime_seconds{${L}} 42\n`));
  assert.ok(text.includes(`tabby_bgp_peer_prefixes_received{${L}} 3\n`));
  assert.ok(text.includes(`tabby_bgp_peer_prefixes_accepted{${L}} 2\n`));
  assert.ok(text.includes(`tabby_bgp_peer_prefixes_advertised{${L}} 5\n`));
  assert.ok(text.includes(`tabby_bgp_peer_updates_received_total{${L}} 7\n`));
  assert.ok(text.includes(`tabby_bgp_peer_updates_sent_total{${L}} 4\n`));
  assert.ok(text.includes(`tabby_bgp_peer_flaps_total{${L}} 1\n`));
  assert.match(text, /# TYPE tabby_bgp_peer_flaps_total counter/);
  // the session goes down: the next scrape says so (no instrumentation on the BGP path)
  peers = [{ ...peerUp, state: "Idle", established: false, uptimeSeconds: undefined as never, flaps: 2 }];
  delete (peers[0] as Partial<AgentPeerStatus>).uptimeSeconds;
  const after = await m.metrics();
  assert.deepEqual(samples(after, "tabby_bgp_peer_up"), [`tabby_bgp_peer_up{${L}} 0`]);
  assert.ok(after.includes(`tabby_bgp_peer_state{${L},state="Idle"} 1\n`));
  assert.ok(after.includes(`tabby_bgp_peer_flaps_total{${L}} 2\n`));
  assert.ok(after.includes('tabby_bgp_sessions{state="Established"} 0\n'));
});

test("dataplane, datastore, policy and convergence families; events counted as they happen", async () => {
  const m = new AgentMetrics(sources(), { processMetrics: false });
  m.events.programmed!(0.02);
  m.events.programmed!(0.5, new Error("nft failed"));
  m.events.datastoreUpdates!([
    { key: "a", value: "1" },
    { key: "b", value: undefined },
  ]);
  m.events.datastoreError!(new Error("gone"));
  m.invalidResourceSeen("GlobalNetworkPolicy");
  m.resynced(0);
  m.resynced(3);
  m.observeConvergence("peer-down", 0.3);
  m.observeConvergence("peer-down", -1); // ignored: not a duration
  m.events.convergence!("bfd-down", 0.1); // the agent's hook (AgentEvents.convergence)
  const t = await m.metrics();
  for (const line of [
    "tabby_dataplane_apply_duration_seconds_count 2",
    'tabby_dataplane_apply_duration_seconds_bucket{le="0.025"} 1',
    "tabby_dataplane_apply_errors_total 1",
    "tabby_dataplane_resyncs_total 2",
    "tabby_dataplane_drift_repaired_total 3",
    "tabby_dataplane_programmed 1",
    'tabby_dataplane_routes{kind="local"} 3',
    'tabby_dataplane_routes{kind="learned"} 4',
    "tabby_dataplane_route_problems 1",
    "tabby_dataplane_nft_chains 12",
    "tabby_dataplane_nft_rules 40",
    'tabby_policy_endpoints{type="workload"} 2',
    'tabby_policy_endpoints{type="host"} 1',
    "tabby_policy_policies 3",
    "tabby_policy_rules 9",
    "tabby_policy_ipsets 4",
    'tabby_datastore_sync_state{state="in-sync"} 1',
    'tabby_datastore_sync_state{state="resync"} 0',
    "tabby_datastore_watch_events_total 2",
    "tabby_datastore_reconnects_total 1",
    'tabby_datastore_invalid_resources_total{kind="GlobalNetworkPolicy"} 1',
    'tabby_convergence_seconds_count{event="peer-down"} 1',
    'tabby_convergence_seconds_sum{event="peer-down"} 0.3',
    'tabby_convergence_seconds_count{event="bfd-down"} 1',
  ])
    assert.ok(t.includes(line + "\n"), `missing ${line}`);
  assert.doesNotMatch(t, /^process_/m, "process metrics off in this test");
});

test("IPAM per pool, read from the datastore at scrape time; process metrics on by default", async () => {
  const store = new MemoryStore();
  const pool = { apiVersion: "projectcalico.org/v3", kind: "IPPool", metadata: { name: "p4" }, spec: { cidr: "10.65.0.0/16", blockSize: 26 } };
  await store.put(resourceKey("IPPool", "p4"), JSON.stringify(pool));
  const b1 = assignNext(newBlock("10.65.0.0/26", "host:h1", 0), 3, {}).block;
  await store.put(blockKey(b1.cidr), encodeBlock(b1));
  await store.put(blockKey("10.65.1.0/26"), encodeBlock(newBlock("10.65.1.0/26", "host:h2", 0)));
  const m = new AgentMetrics(sources({ store }));
  const t = await m.metrics();
  assert.ok(t.includes('tabby_ipam_blocks{pool="p4",cidr="10.65.0.0/16"} 2\n'), t);
  assert.ok(t.includes('tabby_ipam_addresses_in_use{pool="p4",cidr="10.65.0.0/16"} 3\n'));
  assert.ok(t.includes('tabby_ipam_pool_size{pool="p4",cidr="10.65.0.0/16"} 65536\n'));
  assert.match(t, /^process_cpu_seconds_total \d/m);
  assert.match(t, /^nodejs_heap_size_used_bytes \d/m);
});

test('ipamUsage: blocks outside every pool count under pool ""; deleted blocks do not count', () => {
  const pools = [poolFromResource({ metadata: { name: "a" }, spec: { cidr: "10.1.0.0/24", blockSize: 28 } })];
  const inA = assignNext(newBlock("10.1.0.16/28", "host:x", 0), 2, {}).block;
  const stray = assignNext(newBlock("10.2.0.0/28", "host:x", 0), 1, {}).block;
  const gone = { ...newBlock("10.1.0.32/28", null, 0), deleted: true };
  assert.deepEqual(ipamUsage(pools, [inA, stray, gone]), [
    { pool: "a", cidr: "10.1.0.0/24", blocks: 1, inUse: 2, size: 256 },
    { pool: "", cidr: "", blocks: 1, inUse: 1, size: 0 },
  ]);
});

test("invalidResource: a resource that fails validation is named; valid ones, deletions and other keys are not", () => {
  const key = resourceKey("GlobalNetworkPolicy", "bad");
  const bad = { apiVersion: "projectcalico.org/v3", kind: "GlobalNetworkPolicy", metadata: { name: "bad" }, spec: { selector: "role ==" } };
  const r = invalidResource(key, JSON.stringify(bad));
  assert.equal(r?.kind, "GlobalNetworkPolicy");
  assert.equal(r?.name, "bad");
  assert.match(r!.message, /selector/);
  assert.match(invalidResource(key, "{not json")!.message, /^not JSON/);
  const good = { ...bad, spec: { selector: "role == 'db'" } };
  assert.equal(invalidResource(key, JSON.stringify(good)), undefined);
  assert.equal(invalidResource(key, undefined), undefined);
  assert.equal(invalidResource("/calico/ipam/v2/assignment/ipv4/block/10.0.0.0-26", "{}"), undefined);
});

test("speaker registry (bgp run): BGP and BFD families", async () => {
  const reg = speakerRegistry(
    {
      peers: () => [peerUp],
      bfd: () => [
        {
          peer: "10.0.0.2",
          multihop: false,
          state: "Up",
          remoteState: "Up",
          localDiscriminator: 1,
          remoteDiscriminator: 2,
          diag: 0,
          txIntervalMs: 300,
          detectionTimeMs: 900,
        },
      ],
    },
    { processMetrics: false },
  );
  const t = await reg.metrics();
  assert.ok(t.includes('tabby_bfd_sessions{state="Up"} 1\n'));
  assert.ok(t.includes('tabby_bfd_sessions{state="Down"} 0\n'));
  assert.ok(t.includes('tabby_bfd_session_up{peer="10.0.0.2",multihop="false"} 1\n'));
  assert.ok(t.includes('tabby_bgp_peer_up{peer="10.0.0.2",peer_as="64512",type="mesh"} 1\n'));
});

test("HTTP routes: /metrics, /readyz and /readiness 200 or 503 with the checks, /livez, 404 and 405", async () => {
  let ready = false;
  const report = () => ({ ready, live: true, checks: [{ name: "datastore" as const, ok: ready, detail: ready ? "in sync" : "not in sync (resync)" }] });
  const routes = { metrics: { contentType: "text/plain; version=0.0.4", render: () => Promise.resolve("x 1\n") }, health: report };
  const r1 = await handle(routes, "GET", "/readyz");
  assert.equal(r1.status, 503);
  assert.deepEqual(JSON.parse(r1.body).checks, [{ name: "datastore", ok: false, detail: "not in sync (resync)" }]);
  ready = true;
  assert.equal((await handle(routes, "GET", "/readiness")).status, 200);
  assert.equal((await handle(routes, "GET", "/livez")).status, 200);
  assert.equal((await handle(routes, "GET", "/liveness")).status, 200);
  assert.deepEqual(await handle(routes, "GET", "/metrics"), { status: 200, type: "text/plain; version=0.0.4", body: "x 1\n" });
  assert.equal((await handle(routes, "GET", "/nope")).status, 404);
  assert.equal((await handle(routes, "POST", "/metrics")).status, 405);
  assert.equal((await handle({ health: report }, "GET", "/metrics")).status, 404, "metrics off: no /metrics");
});
