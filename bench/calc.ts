/**
 * Policy calculation graph benchmark (felix's design target: 100k+ endpoints, ~2k policies,
 * ~100 local endpoints per host). Builds a cluster of 100,000 WorkloadEndpoints on 1,000 hosts
 * (100 local to the measured host) in 50 namespaces, 2,000 policies with realistic selectors
 * (namespaced app-to-app allows, tier rules, namespaceSelectors, named ports, network sets), and
 * measures:
 *   - initial sync: every update fed as JSON text, then onInSync() and one flush();
 *   - sustained endpoint label updates: update → flush, per second (local and remote endpoints);
 *   - memory per endpoint: heap used after GC (run with --expose-gc), over the endpoint count.
 * Times are given as wall time and as CPU time of the process (steadier on a shared machine; the
 * summary uses CPU time). Prints the figures and the goals; no assertions.
 * Run: npx tsc -p . && node --expose-gc dist/bench/calc.js [--parsed]
 * With --parsed the values are handed over as parsed objects (JSON.parse done before timing),
 * which isolates the graph's own cost from JSON decoding. With --profile-sync FILE a CPU profile
 * of the initial sync alone is written to FILE; --sync-only stops after the sync and memory.
 */
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { performance } from "node:perf_hooks";
import { buildPolicyCalcGraph } from "../src/calc/policy/index.js";

const R = "/calico/resources/v3/projectcalico.org/";
const HOSTS = 1000;
const PER_HOST = 100;
const ENDPOINTS = HOSTS * PER_HOST;
const NAMESPACES = 50;
const APPS = 400;
const POLICIES = 2000;
const LOCAL = "host-0";
const gc = (globalThis as { gc?: () => void }).gc;

// Deterministic pseudo-random numbers (xorshift32).
let seed = 0x9e3779b9;
function rnd(n: number): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) % n;
}

/** A flat copy of a string, as the datastore delivers keys (a template literal makes a rope). */
function flat(s: string): string {
  return Buffer.from(s).toString();
}

const TIERS = ["frontend", "backend", "db", "cache"];
/** Endpoint i; `version` changes a label no selector uses, `appShift` moves it to another app. */
function endpoint(i: number, version: number, appShift = 0): [string, string] {
  const host = Math.floor(i / PER_HOST);
  const ns = `ns-${i % NAMESPACES}`;
  const app = `app-${(i + appShift) % APPS}`;
  const name = `host--${host}-k8s-pod--${i}-eth0`;
  const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
  const value = {
    apiVersion: "projectcalico.org/v3",
    kind: "WorkloadEndpoint",
    metadata: {
      name,
      namespace: ns,
      labels: {
        app,
        tier: TIERS[i % TIERS.length],
        version: `v${version}`,
        "pod-template-hash": `h${(i * 7919) % 5000}`,
        "projectcalico.org/namespace": ns,
        "projectcalico.org/orchestrator": "k8s",
      },
    },
    spec: {
      orchestrator: "k8s",
      node: `host-${host}`,
      pod: `pod-${i}`,
      endpoint: "eth0",
      interfaceName: `tab${i.toString(16).padStart(11, "0")}`,
      ipNetworks: [`${ip}/32`],
      profiles: [`kns.${ns}`, `ksa.${ns}.default`],
      ports:
        i % 3 === 0
          ? [
              { name: "http", protocol: "TCP", port: 8080 },
              { name: "metrics", protocol: "TCP", port: 9090 },
            ]
          : [],
    },
  };
  return [flat(`${R}workloadendpoints/${ns}/${name}`), JSON.stringify(value)];
}

function nsProfile(k: number): [string, string] {
  const name = `kns.ns-${k}`;
  return [
    `${R}profiles/${name}`,
    JSON.stringify({
      apiVersion: "projectcalico.org/v3",
      kind: "Profile",
      metadata: { name },
      spec: {
        ingress: [{ action: "Allow" }],
        egress: [{ action: "Allow" }],
        labelsToApply: { "pcns.projectcalico.org/name": `ns-${k}`, "pcns.env": k % 5 === 0 ? "prod" : "dev", "pcns.team": `team-${k % 10}` },
      },
    }),
  ];
}

function saProfile(k: number): [string, string] {
  const name = `ksa.ns-${k}.default`;
  return [
    `${R}profiles/${name}`,
    JSON.stringify({
      apiVersion: "projectcalico.org/v3",
      kind: "Profile",
      metadata: { name },
      spec: { labelsToApply: { "pcsa.projectcalico.org/name": "default" } },
    }),
  ];
}

function policy(p: number): [string, string] {
  const api = { apiVersion: "projectcalico.org/v3" };
  const k = p % NAMESPACES;
  const a = rnd(APPS);
  const b = rnd(APPS);
  switch (p % 10) {
    case 0: // GNP by tier with a namespaceSelector source
      return [
        `${R}globalnetworkpolicies/g-${p}`,
        JSON.stringify({
          ...api,
          kind: "GlobalNetworkPolicy",
          metadata: { name: `g-${p}` },
          spec: {
            order: p,
            selector: `tier == '${TIERS[p % 4]}' && app == 'app-${a}'`,
            ingress: [{ action: "Allow", source: { namespaceSelector: `team == 'team-${p % 10}'`, selector: `app == 'app-${b}'` } }],
          },
        }),
      ];
    case 1: // named ports
      return [
        `${R}networkpolicies/ns-${k}/np-${p}`,
        JSON.stringify({
          ...api,
          kind: "NetworkPolicy",
          metadata: { name: `np-${p}`, namespace: `ns-${k}` },
          spec: {
            selector: `app == 'app-${a}'`,
            ingress: [{ action: "Allow", protocol: "TCP", source: { selector: `app == 'app-${b}'` }, destination: { ports: ["http"] } }],
          },
        }),
      ];
    case 2: // egress to a network set or CIDR
      return [
        `${R}networkpolicies/ns-${k}/np-${p}`,
        JSON.stringify({
          ...api,
          kind: "NetworkPolicy",
          metadata: { name: `np-${p}`, namespace: `ns-${k}` },
          spec: {
            selector: `app == 'app-${a}'`,
            types: ["Egress"],
            egress: [
              { action: "Allow", destination: { selector: `role == 'ext-${p % 20}'` } },
              { action: "Deny", destination: { nets: [`192.0.${p % 256}.0/24`] } },
            ],
          },
        }),
      ];
    default: // namespaced app-to-app allows, ingress and egress
      return [
        `${R}networkpolicies/ns-${k}/np-${p}`,
        JSON.stringify({
          ...api,
          kind: "NetworkPolicy",
          metadata: { name: `np-${p}`, namespace: `ns-${k}` },
          spec: {
            order: 100 + (p % 7),
            selector: `app == 'app-${a}' && version != 'v0'`,
            ingress: [
              {
                action: "Allow",
                protocol: "TCP",
                source: { selector: `app in {'app-${b}', 'app-${(b + 1) % APPS}'}` },
                destination: { ports: [8080, "9000:9100"] },
              },
            ],
            egress: [{ action: "Allow", protocol: "TCP", destination: { selector: `tier == 'db' && app == 'app-${b}'`, ports: [5432] } }],
          },
        }),
      ];
  }
}

function netset(i: number): [string, string] {
  return [
    `${R}globalnetworksets/ext-${i}`,
    JSON.stringify({
      apiVersion: "projectcalico.org/v3",
      kind: "GlobalNetworkSet",
      metadata: { name: `ext-${i}`, labels: { role: `ext-${i % 20}` } },
      spec: { nets: [`198.51.${i % 256}.0/24`] },
    }),
  ];
}

function mb(n: number): string {
  return `${(n / 1048576).toFixed(1)} MiB`;
}

gc?.();
const heap0 = process.memoryUsage().heapUsed;
const g = buildPolicyCalcGraph(LOCAL);

// The input, generated before timing (JSON text, as the datastore delivers it).
let input: [string, string][] = [];
for (let k = 0; k < NAMESPACES; k++) input.push(nsProfile(k), saProfile(k));
for (let i = 0; i < 200; i++) input.push(netset(i));
for (let p = 0; p < POLICIES; p++) input.push(policy(p));
for (let i = 0; i < ENDPOINTS; i++) input.push(endpoint(i, 1));

/** CPU time of this process in ms (user + system): steadier than wall time on a shared machine. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

// ---- initial sync ----
const PARSED = process.argv.includes("--parsed");
const parsedInput: [string, object][] = PARSED ? input.map(([k, v]) => [k, JSON.parse(v) as object]) : [];
if (PARSED) input = [];
// --profile-sync FILE: a CPU profile of the initial sync alone (open in Chrome DevTools).
const profileAt = process.argv.indexOf("--profile-sync");
const profiler = profileAt > 0 ? new Session() : undefined;
if (profiler) {
  profiler.connect();
  await profiler.post("Profiler.enable");
  await profiler.post("Profiler.start");
}
let c0 = cpuMs();
let t0 = performance.now();
if (PARSED) for (const [k, v] of parsedInput) g.onUpdate(k, v);
else for (const [k, v] of input) g.onUpdate(k, v);
const tFed = performance.now();
g.onInSync();
const first = g.flush();
let t1 = performance.now();
const syncMs = t1 - t0;
const syncCpu = cpuMs() - c0;
if (profiler) {
  const { profile } = await profiler.post("Profiler.stop");
  writeFileSync(process.argv[profileAt + 1] ?? "sync.cpuprofile", JSON.stringify(profile));
  profiler.disconnect();
}
const count = (k: string) => first.filter((e) => e.kind === k).length;
console.log(`input: ${PARSED ? "parsed objects (JSON decoding not timed)" : "JSON text, as the datastore delivers it"}`);
console.log(`cluster: ${ENDPOINTS.toLocaleString("en-US")} endpoints on ${HOSTS} hosts (${PER_HOST} local), ${POLICIES} policies, ${NAMESPACES} namespaces`);
console.log(
  `initial sync: ${syncMs.toFixed(0)} ms wall (flush ${(t1 - tFed).toFixed(0)} ms), ${syncCpu.toFixed(0)} ms CPU (goal ≤ 2000 ms) → ${first.length} events: ${count("ipset-update")} IP sets, ${count("policy-update")} policies/profiles, ${count("workload-endpoint-update")} local endpoints`,
);

// ---- memory (the input released first: the heap holds the graph alone) ----
first.length = 0;
input = [];
parsedInput.length = 0;
gc?.();
const heap1 = process.memoryUsage().heapUsed;
const perEp = (heap1 - heap0) / ENDPOINTS;
console.log(
  `memory: heap ${mb(heap1 - heap0)} for the graph → ${Math.round(perEp)} B/endpoint (goal ≤ 1024 B)${gc ? "" : " [no --expose-gc: figure includes garbage]"}`,
);

if (process.argv.includes("--sync-only")) process.exit(0);

// ---- sustained label updates ----
function sustained(label: string, pick: () => number, n: number): number {
  const inputs: [string, string][] = [];
  // Most updates change a label no selector reads; every fourth moves the endpoint to another app
  // (and back), changing IP set membership and, for local endpoints, the policies that apply.
  for (let j = 0; j < n; j++) inputs.push(endpoint(pick(), 2 + (j % 5), j % 4 === 0 ? (j % 8 === 0 ? 1 : 0) : 0));
  let events = 0;
  c0 = cpuMs();
  t0 = performance.now();
  for (const [k, v] of inputs) {
    g.onUpdate(k, v);
    events += g.flush().length;
  }
  t1 = performance.now();
  const cpu = cpuMs() - c0;
  const rate = (n / (t1 - t0)) * 1000;
  const cpuRate = (n / cpu) * 1000;
  console.log(
    `label updates (${label}): ${n} update→flush in ${(t1 - t0).toFixed(0)} ms wall, ${cpu.toFixed(0)} ms CPU → ${Math.round(rate).toLocaleString("en-US")}/s wall, ${Math.round(cpuRate).toLocaleString("en-US")}/s per CPU second (goal ≥ 20,000/s), ${events} events`,
  );
  return cpuRate;
}
sustained("warm-up", () => rnd(ENDPOINTS), 5000);
const remote = sustained("any endpoint", () => rnd(ENDPOINTS), 50_000);
const local = sustained("local endpoints", () => rnd(PER_HOST), 10_000);
console.log(
  `summary (CPU time): sync ${syncCpu.toFixed(0)} ms ${syncCpu <= 2000 ? "✓" : "✗"}; updates ${Math.round(remote).toLocaleString("en-US")}/s any, ${Math.round(local).toLocaleString("en-US")}/s local ${Math.min(remote, local) >= 20000 ? "✓" : "✗"}; ${Math.round(perEp)} B/endpoint ${perEp <= 1024 ? "✓" : "✗"}`,
);
