/**
 * Endpoint chains: each workload's fw-/tw- chains and anti-spoofing sources, each host
 * endpoint's chains, and the dispatch that reaches them (wl-from/wl-to maps and chains, the
 * hn-/hf-/hp-/hu- maps and chains, wl-to-host).
 */
import type { Direction, HostEndpointUpdate, WorkloadEndpointUpdate } from "../../calc/policy-output.js";
import { type Prefix, tryParsePrefix } from "../../net/prefix.js";
import { ifaceSuffix, nftString, policyChain } from "./names.js";
import { comment, renderEndpointRules } from "./policy-rules.js";
import { disjointNets, netText } from "./sets.js";
import type { DesiredState } from "./state.js";
import type { NftChain, NftMap } from "./table.js";

/** ICMPv6 types a workload must reach its host with: MLD 130-132, RS 133, NS 135, NA 136. */
const ICMPV6_TO_HOST = "icmpv6 type { 130, 131, 132, 133, 135, 136 } accept";

/** Host endpoints by interface (first id wins when two name the same interface). */
export function hostsByIface(state: DesiredState): Map<string, HostEndpointUpdate> {
  const out = new Map<string, HostEndpointUpdate>();
  for (const id of [...state.hosts.keys()].sort()) {
    const h = state.hosts.get(id)!;
    if (!out.has(h.iface)) out.set(h.iface, h);
  }
  return out;
}

const HEP_DISPATCH = ["hn-in", "hn-out", "hf-in", "hf-out", "hp-in", "hu-in", "hu-out"] as const;
export type HepDispatch = (typeof HEP_DISPATCH)[number];

export interface WorkloadParts {
  fw: NftChain;
  tw: NftChain;
  src: Record<4 | 6, string[]>;
  /** Policy chains the endpoint jumps to: [chain name, policy id, direction]. */
  uses: [string, string, Direction][];
}

/** A workload's endpoint chains, its (interface . source) elements and the policy chains it uses. */
export function workloadParts(w: WorkloadEndpointUpdate, flowLogGroup: number | undefined): WorkloadParts {
  const flowOpt = flowLogGroup !== undefined ? { flowLogGroup } : {};
  const src: Record<4 | 6, string[]> = { 4: [], 6: [] };
  for (const f of [4, 6] as const) {
    const nets = [...w.addrs, ...w.allowSpoofedSources]
      .map((a) => tryParsePrefix(a))
      .filter((p): p is Prefix => p !== undefined && p.family === f)
      .map((p) => ({ cidr: p.network().addr.toString(), len: p.len }));
    for (const n of disjointNets(nets)) src[f].push(`${nftString(w.iface)} . ${netText(n)}`);
  }
  const uses: [string, string, Direction][] = [];
  for (const [p, dir] of [
    [w.ingress, "ingress"],
    [w.egress, "egress"],
  ] as const) {
    for (const t of p.tiers) for (const id of t.policies) uses.push([policyChain(id, dir), id, dir]);
    for (const id of p.profiles) uses.push([policyChain(id, dir), id, dir]);
  }
  return {
    uses,
    fw: { rules: renderEndpointRules(w.egress, "egress", "normal", { invalidDrop: true, ...flowOpt }) },
    tw: { rules: renderEndpointRules(w.ingress, "ingress", "normal", { invalidDrop: true, ...flowOpt }) },
    src,
  };
}

/** The host-endpoint dispatch maps' entries (interface → goto chain), and the `*` host endpoint's chain per dispatch. */
export interface HepDispatchEntries {
  maps: Map<HepDispatch, Map<string, string>>;
  wildcard: Map<HepDispatch, string>;
}

/** The verdict maps: wl-from-map and wl-to-map, and one per host-endpoint dispatch (filled by hostEndpointChains). */
export function dispatchMaps(workloads: readonly WorkloadEndpointUpdate[], maps: Map<string, NftMap>): HepDispatchEntries {
  const wlFrom = new Map<string, string>();
  const wlTo = new Map<string, string>();
  for (const w of workloads) {
    wlFrom.set(nftString(w.iface), `goto fw-${ifaceSuffix(w.iface)}`);
    wlTo.set(nftString(w.iface), `goto tw-${ifaceSuffix(w.iface)}`);
  }
  maps.set("wl-from-map", { type: "ifname : verdict", elements: wlFrom });
  maps.set("wl-to-map", { type: "ifname : verdict", elements: wlTo });
  const hepMaps = new Map<HepDispatch, Map<string, string>>(HEP_DISPATCH.map((d) => [d, new Map()]));
  const wildcard = new Map<HepDispatch, string>();
  for (const d of HEP_DISPATCH) maps.set(`${d}-map`, { type: "ifname : verdict", elements: hepMaps.get(d)! });
  return { maps: hepMaps, wildcard };
}

/** Host endpoint chains, and their entries in the dispatch maps. */
export function hostEndpointChains(
  heps: Map<string, HostEndpointUpdate>,
  hep: HepDispatchEntries,
  chains: Map<string, NftChain>,
  flowLogGroup: number | undefined,
): void {
  const { maps: hepMaps, wildcard } = hep;
  for (const [iface, h] of heps) {
    const s = ifaceSuffix(iface);
    const add = (d: HepDispatch, chain: string, rules: string[]) => {
      chains.set(chain, { rules });
      if (iface === "*") wildcard.set(d, chain);
      else hepMaps.get(d)!.set(nftString(iface), `goto ${chain}`);
    };
    // flow logs: the tracked (normal, forward) chains' drops too; preDNAT and untracked ones never drop at their end
    const hepFlow = flowLogGroup !== undefined ? { flowLogGroup } : {};
    add("hn-in", `fh-${s}`, renderEndpointRules(h.normal.ingress, "ingress", "normal", { failsafe: "in", invalidDrop: true, ...hepFlow }));
    add("hn-out", `th-${s}`, renderEndpointRules(h.normal.egress, "egress", "normal", { failsafe: "out", invalidDrop: true, ...hepFlow }));
    if (h.forward.ingress.tiers.length) add("hf-in", `fhfw-${s}`, renderEndpointRules(h.forward.ingress, "ingress", "forward", hepFlow));
    if (h.forward.egress.tiers.length) add("hf-out", `thfw-${s}`, renderEndpointRules(h.forward.egress, "egress", "forward", hepFlow));
    if (h.preDnat.ingress.tiers.length) add("hp-in", `pd-${s}`, renderEndpointRules(h.preDnat.ingress, "ingress", "prednat", { failsafe: "in" }));
    if (h.untracked.ingress.tiers.length) add("hu-in", `uhi-${s}`, renderEndpointRules(h.untracked.ingress, "ingress", "untracked", { failsafe: "in" }));
    if (h.untracked.egress.tiers.length) add("hu-out", `uho-${s}`, renderEndpointRules(h.untracked.egress, "egress", "untracked", { failsafe: "out" }));
  }
}

/** The dispatch chains (from-wl, to-wl, hn-in … hu-out) and wl-to-host. `WL`: the workload interfaces' match. */
export function dispatchChains(state: DesiredState, hep: HepDispatchEntries, chains: Map<string, NftChain>, WL: string): void {
  const { wildcard } = hep;
  chains.set("from-wl", { rules: [`iifname vmap @wl-from-map`, `drop ${comment("unknown workload interface")}`] });
  chains.set("to-wl", { rules: [`oifname vmap @wl-to-map`, `drop ${comment("unknown workload interface")}`] });
  for (const d of HEP_DISPATCH) {
    const kw = d.endsWith("-in") ? "iifname" : "oifname";
    const rules = [`${kw} vmap @${d}-map`];
    const any = wildcard.get(d);
    if (any) rules.push(`${kw} "lo" return`, `${kw} ${WL} return`, `goto ${any}`);
    chains.set(d, { rules });
  }
  const toHost = state.config.defaultEndpointToHostAction === "drop" ? "drop" : "accept";
  chains.set("wl-to-host", {
    rules: [ICMPV6_TO_HOST, "jump from-wl", `${toHost} ${comment("defaultEndpointToHostAction " + state.config.defaultEndpointToHostAction)}`],
  });
}
