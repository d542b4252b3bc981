/**
 * State-sequence test harness for the policy calculation graph (felix `calc_graph_fv_test.go`
 * style): a test is a sequence of datastore states, each with the dataplane state expected once it
 * is reached. The harness replays every sequence in several orders — as written, states reversed,
 * each state's keys reversed, an empty state between states, and every key deleted and re-added
 * after each state — folds the emitted events into a model of the dataplane (checking on the way
 * that sets come before the rules that use them and policies before the endpoints that use them,
 * and that nothing unknown is changed or removed), and compares the model with each state's
 * expectation.
 */
import assert from "node:assert/strict";
import { makeUniqueId, parseSelector } from "../../../selector/index.js";
import type {
  CompiledRule,
  ConfigUpdate,
  EndpointDirectionPolicy,
  HostEndpointUpdate,
  PolicyDataplaneEvent,
  RuleMatch,
  WorkloadEndpointUpdate,
} from "../../../calc/policy-output.js";
import { buildPolicyCalcGraph } from "../../../calc/policy/graph.js";

export const R = "/calico/resources/v3/projectcalico.org/";
export const HOST = "h1";
const V3 = "projectcalico.org/v3";

export type KV = [key: string, value: object];

// ---------- resource builders ----------
export function wep(
  ns: string,
  name: string,
  opts: { node?: string; ip: string | string[]; labels?: Record<string, string>; profiles?: string[]; ports?: unknown[]; sa?: string },
): KV {
  const ips = Array.isArray(opts.ip) ? opts.ip : [opts.ip];
  return [
    `${R}workloadendpoints/${ns}/${name}`,
    {
      apiVersion: V3,
      kind: "WorkloadEndpoint",
      metadata: { name, namespace: ns, labels: opts.labels ?? {} },
      spec: {
        node: opts.node ?? HOST,
        orchestrator: "k8s",
        interfaceName: `tab${name}`.slice(0, 15),
        ipNetworks: ips.map((i) => `${i}/32`),
        profiles: opts.profiles ?? [`kns.${ns}`],
        ...(opts.ports ? { ports: opts.ports } : {}),
        ...(opts.sa ? { serviceAccountName: opts.sa } : {}),
      },
    },
  ];
}
export function hep(name: string, spec: Record<string, unknown>, labels: Record<string, string> = {}): KV {
  return [`${R}hostendpoints/${name}`, { apiVersion: V3, kind: "HostEndpoint", metadata: { name, labels }, spec: { node: HOST, ...spec } }];
}
export function np(ns: string, name: string, spec: Record<string, unknown>): KV {
  return [`${R}networkpolicies/${ns}/${name}`, { apiVersion: V3, kind: "NetworkPolicy", metadata: { name, namespace: ns }, spec }];
}
export function gnp(name: string, spec: Record<string, unknown>): KV {
  return [`${R}globalnetworkpolicies/${name}`, { apiVersion: V3, kind: "GlobalNetworkPolicy", metadata: { name }, spec }];
}
export function profile(name: string, spec: Record<string, unknown>): KV {
  return [`${R}profiles/${name}`, { apiVersion: V3, kind: "Profile", metadata: { name }, spec }];
}
export function nsProfile(ns: string, labels: Record<string, string> = {}): KV {
  const l: Record<string, string> = { "pcns.projectcalico.org/name": ns };
  for (const [k, v] of Object.entries(labels)) l[`pcns.${k}`] = v;
  return profile(`kns.${ns}`, { ingress: [{ action: "Allow" }], egress: [{ action: "Allow" }], labelsToApply: l });
}
export function tier(name: string, spec: Record<string, unknown>): KV {
  return [`${R}tiers/${name}`, { apiVersion: V3, kind: "Tier", metadata: { name }, spec }];
}
export function netset(ns: string, name: string, nets: string[], labels: Record<string, string>): KV {
  return [`${R}networksets/${ns}/${name}`, { apiVersion: V3, kind: "NetworkSet", metadata: { name, namespace: ns, labels }, spec: { nets } }];
}
export function gnetset(name: string, nets: string[], labels: Record<string, string>): KV {
  return [`${R}globalnetworksets/${name}`, { apiVersion: V3, kind: "GlobalNetworkSet", metadata: { name, labels }, spec: { nets } }];
}
export function felixConfig(name: string, spec: Record<string, unknown>): KV {
  return [`${R}felixconfigurations/${name}`, { apiVersion: V3, kind: "FelixConfiguration", metadata: { name }, spec }];
}

// ---------- ids ----------
export const sid = (sel: string): string => parseSelector(sel).uniqueId();
export const npid = (sel: string, proto: string, name: string): string => makeUniqueId("n", `${sid(sel)},${proto},${name}`);
export const wepKey = (ns: string, name: string): string => `${R}workloadendpoints/${ns}/${name}`;

// ---------- the dataplane model ----------
export interface Model {
  sets: Map<string, { type: string; members: Set<string> }>;
  policies: Map<string, { ingress: CompiledRule[]; egress: CompiledRule[] }>;
  weps: Map<string, WorkloadEndpointUpdate>;
  heps: Map<string, HostEndpointUpdate>;
  config?: ConfigUpdate;
  inSync: boolean;
}
export const emptyModel = (): Model => ({ sets: new Map(), policies: new Map(), weps: new Map(), heps: new Map(), inSync: false });

const memberKey = (m: unknown): string =>
  typeof m === "string" ? m : `${(m as { addr: string }).addr},${(m as { protocol: string }).protocol}:${(m as { port: number }).port}`;

function setsOf(m: RuleMatch): string[] {
  return [
    ...(m.srcIpSets ?? []),
    ...(m.notSrcIpSets ?? []),
    ...(m.dstIpSets ?? []),
    ...(m.notDstIpSets ?? []),
    ...(m.srcNamedPortIpSets ?? []),
    ...(m.dstNamedPortIpSets ?? []),
    ...(m.notSrcNamedPortIpSets ?? []),
    ...(m.notDstNamedPortIpSets ?? []),
  ];
}
function policiesOfDir(d: EndpointDirectionPolicy): string[] {
  return [...d.tiers.flatMap((t) => t.policies), ...d.profiles];
}
function policiesOfHep(u: HostEndpointUpdate): string[] {
  return [u.normal.ingress, u.normal.egress, u.forward.ingress, u.forward.egress, u.preDnat.ingress, u.untracked.ingress, u.untracked.egress].flatMap(
    policiesOfDir,
  );
}

/** Folds one flush into the model, checking the ordering invariants. */
export function fold(model: Model, events: PolicyDataplaneEvent[]): void {
  for (const e of events) {
    switch (e.kind) {
      case "config-update":
        model.config = e;
        break;
      case "ipset-update":
        model.sets.set(e.id, { type: e.type, members: new Set(e.members.map(memberKey)) });
        break;
      case "ipset-delta": {
        const s = model.sets.get(e.id);
        assert.ok(s, `delta for unknown set ${e.id}`);
        for (const m of e.removed) assert.ok(s.members.delete(memberKey(m)), `removing absent member ${memberKey(m)} of ${e.id}`);
        for (const m of e.added) {
          assert.ok(!s.members.has(memberKey(m)), `adding present member ${memberKey(m)} to ${e.id}`);
          s.members.add(memberKey(m));
        }
        break;
      }
      case "ipset-remove":
        assert.ok(model.sets.delete(e.id), `removing unknown set ${e.id}`);
        for (const [pid, p] of model.policies) {
          for (const r of [...p.ingress, ...p.egress]) assert.ok(!setsOf(r.match).includes(e.id), `set ${e.id} removed while ${pid} uses it`);
        }
        break;
      case "policy-update":
        for (const r of [...e.ingress, ...e.egress])
          for (const s of setsOf(r.match)) assert.ok(model.sets.has(s), `policy ${e.id} uses set ${s} before it exists`);
        model.policies.set(e.id, { ingress: e.ingress, egress: e.egress });
        break;
      case "policy-remove":
        assert.ok(model.policies.delete(e.id), `removing unknown policy ${e.id}`);
        for (const w of model.weps.values())
          assert.ok(![...policiesOfDir(w.ingress), ...policiesOfDir(w.egress)].includes(e.id), `policy ${e.id} removed while ${w.id} uses it`);
        for (const h of model.heps.values()) assert.ok(!policiesOfHep(h).includes(e.id), `policy ${e.id} removed while ${h.id} uses it`);
        break;
      case "workload-endpoint-update":
        for (const p of [...policiesOfDir(e.ingress), ...policiesOfDir(e.egress)])
          assert.ok(model.policies.has(p), `endpoint ${e.id} uses ${p} before it exists`);
        model.weps.set(e.id, e);
        break;
      case "workload-endpoint-remove":
        assert.ok(model.weps.delete(e.id), `removing unknown endpoint ${e.id}`);
        break;
      case "host-endpoint-update":
        for (const p of policiesOfHep(e)) assert.ok(model.policies.has(p), `host endpoint ${e.id} uses ${p} before it exists`);
        model.heps.set(e.id, e);
        break;
      case "host-endpoint-remove":
        assert.ok(model.heps.delete(e.id), `removing unknown host endpoint ${e.id}`);
        break;
      case "in-sync":
        assert.ok(!model.inSync, "in-sync sent twice");
        model.inSync = true;
        break;
    }
  }
}

// ---------- expectations ----------
export type Dir = { tiers?: [name: string, action: "deny" | "pass", policies: string[]][]; profiles?: string[] };
export interface Expected {
  /** set id → members ("cidr" or "addr,proto:port"). */
  sets?: Record<string, string[]>;
  /** policy id → rules (action + match; rule ids ignored). */
  policies?: Record<string, { ingress?: { action: string; match: RuleMatch }[]; egress?: { action: string; match: RuleMatch }[] }>;
  weps?: Record<string, { ingress?: Dir; egress?: Dir }>;
  heps?: Record<
    string,
    {
      normal?: { ingress?: Dir; egress?: Dir };
      forward?: { ingress?: Dir; egress?: Dir };
      preDnat?: { ingress?: Dir };
      untracked?: { ingress?: Dir; egress?: Dir };
    }
  >;
  config?: Partial<ConfigUpdate>;
}
export interface State {
  name: string;
  kvs: KV[];
  expected: Expected;
}
export const EMPTY: State = { name: "empty", kvs: [], expected: {} };

const dirOf = (d: Dir | undefined): EndpointDirectionPolicy => ({
  tiers: (d?.tiers ?? []).map(([name, defaultAction, policies]) => ({ name, defaultAction, policies })),
  profiles: d?.profiles ?? [],
});

export function checkModel(model: Model, exp: Expected, where: string): void {
  const sets = Object.fromEntries([...model.sets].map(([id, s]) => [id, [...s.members].sort()]));
  const expSets = Object.fromEntries(Object.entries(exp.sets ?? {}).map(([id, m]) => [id, [...m].sort()]));
  assert.deepEqual(sets, expSets, `${where}: IP sets`);
  const strip = (rs: CompiledRule[]) => rs.map((r) => ({ action: r.action, match: r.match }));
  const pols = Object.fromEntries([...model.policies].map(([id, p]) => [id, { ingress: strip(p.ingress), egress: strip(p.egress) }]));
  const expPols = Object.fromEntries(Object.entries(exp.policies ?? {}).map(([id, p]) => [id, { ingress: p.ingress ?? [], egress: p.egress ?? [] }]));
  assert.deepEqual(pols, expPols, `${where}: policies`);
  const weps = Object.fromEntries([...model.weps].map(([id, w]) => [id, { ingress: w.ingress, egress: w.egress }]));
  const expWeps = Object.fromEntries(Object.entries(exp.weps ?? {}).map(([id, w]) => [id, { ingress: dirOf(w.ingress), egress: dirOf(w.egress) }]));
  assert.deepEqual(weps, expWeps, `${where}: workload endpoints`);
  const heps = Object.fromEntries([...model.heps].map(([id, h]) => [id, { normal: h.normal, forward: h.forward, preDnat: h.preDnat, untracked: h.untracked }]));
  const expHeps = Object.fromEntries(
    Object.entries(exp.heps ?? {}).map(([id, h]) => [
      id,
      {
        normal: { ingress: dirOf(h.normal?.ingress), egress: dirOf(h.normal?.egress) },
        forward: { ingress: dirOf(h.forward?.ingress), egress: dirOf(h.forward?.egress) },
        preDnat: { ingress: dirOf(h.preDnat?.ingress) },
        untracked: { ingress: dirOf(h.untracked?.ingress), egress: dirOf(h.untracked?.egress) },
      },
    ]),
  );
  assert.deepEqual(heps, expHeps, `${where}: host endpoints`);
  if (exp.config)
    for (const [k, v] of Object.entries(exp.config)) assert.deepEqual((model.config as unknown as Record<string, unknown>)[k], v, `${where}: config ${k}`);
}

// ---------- replay ----------
type Step = { state: State; reverseKvs: boolean; churn: boolean };

function expansions(states: State[]): { name: string; steps: Step[] }[] {
  const plain = (s: State): Step => ({ state: s, reverseKvs: false, churn: false });
  const withEmpties: Step[] = [];
  for (const s of states) withEmpties.push(plain(s), plain(EMPTY));
  return [
    { name: "in order", steps: states.map(plain) },
    { name: "states reversed", steps: [...states].reverse().map(plain) },
    { name: "keys reversed", steps: states.map((s) => ({ state: s, reverseKvs: true, churn: false })) },
    { name: "empty states inserted", steps: withEmpties },
    { name: "deletes and re-adds", steps: states.map((s) => ({ state: s, reverseKvs: false, churn: true })) },
    { name: "all twice", steps: [...states, ...states].map(plain) },
  ];
}

/** Replays `states` in every expansion; after each state the model must match its expectation. */
export function runSequence(states: State[]): void {
  for (const { name, steps } of expansions(states)) {
    const g = buildPolicyCalcGraph(HOST);
    const model = emptyModel();
    const store = new Map<string, object>();
    let first = true;
    for (const step of steps) {
      const want = new Map(step.state.kvs.map(([k, v]) => [k, v] as const));
      for (const k of [...store.keys()]) {
        if (!want.has(k)) {
          g.onUpdate(k, undefined);
          store.delete(k);
        }
      }
      const kvs = step.reverseKvs ? [...step.state.kvs].reverse() : step.state.kvs;
      for (const [k, v] of kvs) {
        g.onUpdate(k, JSON.stringify(v));
        store.set(k, v);
      }
      if (step.churn) {
        for (const [k] of kvs) g.onUpdate(k, undefined);
        for (const [k, v] of [...kvs].reverse()) g.onUpdate(k, JSON.stringify(v));
      }
      if (first) {
        assert.deepEqual(g.flush(), [], "nothing is released before in-sync");
        g.onInSync();
        first = false;
      }
      fold(model, g.flush());
      assert.ok(model.inSync, "in-sync after the first snapshot");
      checkModel(model, step.state.expected, `${name}, state ${step.state.name}`);
      assert.deepEqual(g.flush(), [], `${name}, state ${step.state.name}: a second flush is empty`);
    }
  }
}
