/**
 * The policy resolver and sorter (felix `calc/policy_resolver.go`, `policy_sorter.go`): for each
 * local endpoint, the policies that apply to it grouped by tier, tiers and policies in Calico's
 * order, per direction, plus its profiles. Tiers sort by order (none = +∞), then name; a tier with
 * no Tier resource (and not a built-in one) sorts after every known tier and ends with a deny
 * (fail closed). Policies sort by order (none = +∞), then by "<name>/<namespace>/<kind>". Only
 * tiers with a policy applying in that direction appear.
 *
 * WorkloadEndpoints get the normal policies (not doNotTrack, not preDNAT: those apply to host
 * endpoints only). HostEndpoints are split as felix's `splitTiers` does: `normal` (every
 * non-untracked, non-preDNAT policy, with the endpoint's profiles), `forward` (those with
 * applyOnForward), `preDnat` (ingress only) and `untracked`; the last two get defaultAction
 * "pass" on every tier, as Calico renders no end-of-tier drop in those chains (a packet they do not
 * decide goes on to the normal policy), and no profiles.
 *
 * Endpoint updates are computed at flush time for the endpoints marked dirty since the last one.
 * Pure: no I/O.
 */
import { BUILTIN_TIERS } from "../../model/tier.js";
import type { TierSpec } from "../../model/index.js";
import type { EndpointDirectionPolicy, HostEndpointUpdate, TierOrder, WorkloadEndpointUpdate } from "../policy-output.js";
import { profileId, type EndpointData, type PolicyData } from "./decode.js";
import type { DataplaneSink } from "./sequencer.js";
import { addTo, removeFrom } from "./multimap.js";

interface TierInfo {
  name: string;
  order: number | undefined;
  defaultAction: "deny" | "pass";
  valid: boolean;
}

type PolicyFilter = (p: PolicyData) => boolean;

const cmpOrder = (a: number | undefined, b: number | undefined): number => (a === b ? 0 : a === undefined ? 1 : b === undefined ? -1 : a - b);

export function compareTiers(a: TierInfo, b: TierInfo): number {
  if (a.valid !== b.valid) return a.valid ? -1 : 1;
  return cmpOrder(a.order, b.order) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

const sortKey = (p: PolicyData): string => `${p.name}/${p.namespace ?? ""}/${p.kind}`;
export function comparePolicies(a: PolicyData, b: PolicyData): number {
  const o = cmpOrder(a.order, b.order);
  if (o) return o;
  const x = sortKey(a);
  const y = sortKey(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

const isNormal: PolicyFilter = (p) => !p.spec.doNotTrack && !p.spec.preDNAT;
const isForward: PolicyFilter = (p) => isNormal(p) && p.spec.applyOnForward === true;
const isPreDnat: PolicyFilter = (p) => p.spec.preDNAT === true;
const isUntracked: PolicyFilter = (p) => p.spec.doNotTrack === true;

/** Whether a policy is considered for an endpoint at all (preDNAT/doNotTrack: host endpoints only). */
export function policyAppliesToKind(p: PolicyData, kind: "wep" | "hep"): boolean {
  return kind === "hep" || isNormal(p);
}

export class PolicyResolver {
  private readonly endpoints = new Map<string, EndpointData>();
  private readonly matches = new Map<string, Set<string>>();
  private readonly policies = new Map<string, PolicyData>();
  private readonly policyEndpoints = new Map<string, Set<string>>();
  private readonly tiers = new Map<string, TierSpec>();
  private readonly dirty = new Set<string>();
  /** What was last announced per endpoint key, to send the right removal. */
  private readonly announced = new Map<string, EndpointData>();

  constructor(private readonly sink: DataplaneSink) {}

  onEndpoint(key: string, ep: EndpointData | undefined): void {
    if (ep) this.endpoints.set(key, ep);
    else this.endpoints.delete(key);
    this.dirty.add(key);
  }

  onPolicyMatch(policy: PolicyData, ep: string): void {
    this.policies.set(policy.id, policy);
    addTo(this.matches, ep, policy.id);
    addTo(this.policyEndpoints, policy.id, ep);
    this.dirty.add(ep);
  }

  onPolicyMatchStopped(policyId: string, ep: string): void {
    removeFrom(this.matches, ep, policyId);
    removeFrom(this.policyEndpoints, policyId, ep);
    if (!this.policyEndpoints.has(policyId)) this.policies.delete(policyId);
    this.dirty.add(ep);
  }

  /** An active policy changed (order, tier, flags, types). */
  onPolicyUpdated(policy: PolicyData): void {
    const eps = this.policyEndpoints.get(policy.id);
    if (!eps) return;
    this.policies.set(policy.id, policy);
    for (const ep of eps) this.dirty.add(ep);
  }

  onTier(name: string, spec: TierSpec | undefined): void {
    if (spec) this.tiers.set(name, spec);
    else this.tiers.delete(name);
    for (const ep of this.endpoints.keys()) this.dirty.add(ep);
  }

  flush(): void {
    for (const key of this.dirty) this.send(key);
    this.dirty.clear();
  }

  private tierInfo(name: string): TierInfo {
    const t = this.tiers.get(name) ?? BUILTIN_TIERS[name];
    if (!t) return { name, order: undefined, defaultAction: "deny", valid: false };
    return { name, order: t.order, defaultAction: t.defaultAction === "Pass" ? "pass" : "deny", valid: true };
  }

  private send(key: string): void {
    const ep = this.endpoints.get(key);
    const was = this.announced.get(key);
    if (!ep) {
      if (was?.kind === "wep") this.sink.workloadEndpointRemoved(was.id, was.iface);
      else if (was?.kind === "hep") this.sink.hostEndpointRemoved(was.id);
      this.announced.delete(key);
      return;
    }
    if (was && was.kind !== ep.kind) {
      if (was.kind === "wep") this.sink.workloadEndpointRemoved(was.id, was.iface);
      else this.sink.hostEndpointRemoved(was.id);
    }
    this.announced.set(key, ep);
    const pols = [...(this.matches.get(key) ?? [])].map((id) => this.policies.get(id)!).filter((p) => policyAppliesToKind(p, ep.kind));
    // Group by tier, tiers sorted, policies sorted within.
    const byTier = new Map<string, PolicyData[]>();
    for (const p of pols) {
      let l = byTier.get(p.tier);
      if (!l) byTier.set(p.tier, (l = []));
      l.push(p);
    }
    const tiers = [...byTier.keys()].map((t) => this.tierInfo(t)).sort(compareTiers);
    for (const l of byTier.values()) l.sort(comparePolicies);
    const profiles = ep.profiles.map(profileId);
    const dir = (filter: PolicyFilter, type: "Ingress" | "Egress", withProfiles: boolean, forcePass: boolean): EndpointDirectionPolicy => {
      const out: TierOrder[] = [];
      for (const t of tiers) {
        const ids = byTier
          .get(t.name)!
          .filter((p) => filter(p) && (p.spec.types ?? ["Ingress"]).includes(type))
          .map((p) => p.id);
        if (ids.length) out.push({ name: t.name, defaultAction: forcePass ? "pass" : t.defaultAction, policies: ids });
      }
      return { tiers: out, profiles: withProfiles ? profiles : [] };
    };
    if (ep.kind === "wep") {
      const u: WorkloadEndpointUpdate = {
        kind: "workload-endpoint-update",
        id: ep.id,
        iface: ep.iface,
        addrs: [...ep.nets],
        allowSpoofedSources: [...ep.allowSpoofedSources],
        ingress: dir(isNormal, "Ingress", true, false),
        egress: dir(isNormal, "Egress", true, false),
      };
      this.sink.workloadEndpointUpdated(u);
    } else {
      const u: HostEndpointUpdate = {
        kind: "host-endpoint-update",
        id: ep.id,
        iface: ep.iface,
        normal: { ingress: dir(isNormal, "Ingress", true, false), egress: dir(isNormal, "Egress", true, false) },
        forward: { ingress: dir(isForward, "Ingress", false, false), egress: dir(isForward, "Egress", false, false) },
        preDnat: { ingress: dir(isPreDnat, "Ingress", false, true) },
        untracked: { ingress: dir(isUntracked, "Ingress", false, true), egress: dir(isUntracked, "Egress", false, true) },
      };
      this.sink.hostEndpointUpdated(u);
    }
  }
}
