/**
 * The pure renderer: DesiredState → the objects of table `inet tabby` (sets, verdict maps,
 * chains with their rules as nft text), then → `nft -f` scripts: a full atomic replace, or the
 * minimal delta between two renderings. Calico's felix rules/ + nftables/ packages do the same
 * job (calico-spec §3.3, §4.2, §4.3); the layout is tabby's own, one table for both families.
 *
 * This module assembles the table and caches what did not change; the parts are rendered by
 * policy-rules.ts (policy chains, endpoint chain bodies), endpoints.ts (workload and host
 * endpoint chains, dispatch), base-chains.ts (hooks, wl-cp, nat-post) and sets.ts (IP sets);
 * script.ts writes the scripts, table.ts has the object types.
 *
 * Table layout (Calico equivalents in brackets):
 *
 *   base chains (all `policy accept`: a packet tabby does not judge is left to other tables).
 *                Traffic that neither a workload nor a host endpoint concerns leaves each hook at
 *                its first rule, and what serves only host endpoints is rendered only when some
 *                host endpoint needs it (issue #15: host traffic does not pay for workload policy).
 *     raw-pre    prerouting, priority raw (-300)    [raw cali-PREROUTING]
 *                [with host endpoints: clear tabby's mark bits; untracked host-endpoint ingress
 *                policy (→ hu-in) and `notrack accept` when it accepted]; not from `tab*` → accept;
 *                anti-spoofing, for every packet (before conntrack, so the fast path never skips
 *                it): a packet whose (iifname . saddr) is not in @wl-src4/@wl-src6 is dropped
 *                (IPv6 link-local sources exempt, for neighbour discovery) [strict RPF]; → wl-cp
 *                (workload → control plane, tabby's own; also after DNAT in filter-in and
 *                filter-fw).
 *     raw-out    output, priority raw               [raw cali-OUTPUT]: [with host endpoints:
 *                clear the mark bits; untracked egress (→ hu-out)]; else empty.
 *     mangle-pre prerouting, priority mangle (-150), before DNAT (-100) [mangle cali-PREROUTING]:
 *                only with preDNAT policy: Accept mark → accept; established accept; → hp-in.
 *     filter-in  input, priority filter (0)          [filter cali-INPUT]: established accept;
 *                `tab*` → goto wl-to-host; [with host endpoints: Accept mark (preDNAT/untracked)
 *                → accept; host-endpoint ingress (→ hn-in)].
 *     filter-fw  forward, priority filter            [filter cali-FORWARD]: the fast path
 *                (fastpath.ts): established and judged under the current policy epoch (conntrack
 *                mark) → accept; related → accept; denied under this epoch → drop; older epoch:
 *                reply direction → accept, original direction → judged again below, marked
 *                "denied" first; then [applyOnForward ingress unless already accepted (→ hf-in)];
 *                from `tab*` → from-wl; to `tab*` → to-wl; [applyOnForward egress (→ hf-out)];
 *                last: mark the connection judged under this epoch. Forwarded traffic through a
 *                host endpoint with no applyOnForward policy is allowed (no dispatch entry).
 *     filter-out output, priority filter             [filter cali-OUTPUT]: established accept;
 *                [with host endpoints: Accept mark → accept; to `tab*` accepted (host→workload
 *                is not policed, as in Calico's *tables mode); host-endpoint egress (→ hn-out)].
 *   dispatch    from-wl / to-wl: `iifname|oifname vmap @wl-from-map|@wl-to-map` (goto fw-/tw-
 *                chains), then drop: an unknown `tab*` interface fails closed
 *                [cali-from-wl-dispatch / cali-to-wl-dispatch].
 *                hn-in/hn-out (normal), hf-in/hf-out (applyOnForward), hp-in (preDNAT),
 *                hu-in/hu-out (doNotTrack): vmap `@<name>-map` by interface (goto the host
 *                endpoint's chain), then the `*` host endpoint's chain for every interface but
 *                lo and tab* [cali-from-host-endpoint, cali-to-host-endpoint, …-forward].
 *   wl-to-host  [cali-wl-to-host]: ICMPv6 ND/MLD accept; the workload's egress (jump from-wl);
 *                then defaultEndpointToHostAction ("return" is rendered as accept: tabby's hook
 *                ends there and the packet goes on to other tables, as Calico's RETURN does).
 *   endpoint    fw-<iface> (from workload = its egress), tw-<iface> (to workload = ingress)
 *                [cali-fw-/cali-tw-]; host endpoints fh-/th- (normal), fhfw-/thfw- (forward),
 *                pd- (preDNAT), uhi-/uho- (untracked). Body (§3.3): clear Accept|Pass;
 *                [ct state invalid drop]; [jump failsafe-in|out]; per tier: clear Pass, jump each
 *                policy chain while Pass is clear, return if Accept is set; end of tier: drop
 *                unless Pass (tier defaultAction deny; not for preDNAT/untracked); then each
 *                profile's chain, return if Accept; finally drop (not for preDNAT/untracked).
 *   policy      pi-<hash>/po-<hash> per policy or profile id and direction [cali-pi-/cali-po-,
 *                cali-pri-/cali-pro-]; first match: allow = set Accept, return; deny = drop;
 *                pass = set Pass, return; log = [limit rate N/second] log prefix, continue.
 *                A missing profile renders as a drop; a missing policy as an empty chain.
 *   failsafe-in/out [cali-failsafe-in/out]: accept the failsafe ports (dport).
 *   wl-cp       return for ports not in @cp-ports (`proto . port`: most packets stop there)
 *                and for @cp-open interfaces;
 *                drop to a local address (`fib daddr type local`), @cp-nodes4/6 (every Node's
 *                addresses) and @cp-other4/6 (workload gateway, datastore endpoints).
 *   nat-post    natOutgoing [cali-nat-outgoing]: masquerade from @nat-pools to outside
 *                @all-pools and outside @cp-nodes (never to another node: IPPoolsAndHostIPs).
 *   sets        n4-/n6-<hash> (`ipv4_addr`/`ipv6_addr`, flags interval) per net IP set,
 *                p4-/p6-<hash> (`addr . inet_proto . inet_service`) per named-port set; nets
 *                contained in another member are left out (interval sets reject overlaps);
 *                wl-src4/wl-src6 (`ifname . addr`, interval): each workload's allowed sources.
 *
 * Mark bits (names.ts): Accept 0x10000, Pass 0x20000; tabby touches no other bit. Conntrack mark
 * bits (names.ts, fastpath.ts): the policy epoch (bits 16-30) and "denied" (bit 31).
 */
import type { Direction, EndpointDirectionPolicy, PolicyUpdate, WorkloadEndpointUpdate } from "../../calc/policy-output.js";
import { DEFAULT_INTERFACE_PREFIXES } from "../../net/iface-prefix.js";
import { baseChains, controlPlane, natOutgoing } from "./base-chains.js";
import { type HepDispatch, type WorkloadParts, dispatchChains, dispatchMaps, hostEndpointChains, hostsByIface, workloadParts } from "./endpoints.js";
import { nftIfaceMatch } from "./iface-match.js";
import { ifaceSuffix, policyChain } from "./names.js";
import { type RenderOptions, renderPolicyRules } from "./policy-rules.js";
import { type Refs, addrType, collectSetRefs, renderIpSets } from "./sets.js";
import type { DesiredState } from "./state.js";
import type { NftChain, NftMap, NftSet, Rendered } from "./table.js";

export type { NftChain, NftMap, NftSet, Rendered } from "./table.js";
export { type RenderOptions, flowLog, renderEndpointRules, renderPolicyRules, renderRule } from "./policy-rules.js";
export { disjointNets } from "./sets.js";
export { type DeltaStats, deltaScript, fullScript } from "./script.js";

/** Renders the whole desired table (no cache). */
export function renderTable(state: DesiredState, epoch = 1): Rendered {
  return new TableRenderer().render(state, epoch);
}

/**
 * Renders the table, reusing the objects of what did not change since the last call (keyed by
 * the identity of the event objects, and by IP set version), so an apply costs in proportion to
 * its change and deltaScript can skip unchanged chains and sets by identity.
 */
export class TableRenderer {
  private policyCache = new WeakMap<PolicyUpdate, Partial<Record<Direction, NftChain>>>();
  private setCache = new WeakMap<object, { version: number; sets: [string, NftSet][] }>();
  private workloadCache = new WeakMap<object, WorkloadParts>();
  private refsCache = new WeakMap<PolicyUpdate, Map<string, "net" | "ip-port">>();
  private optsKey = "";

  /** `epoch`: the policy epoch written into the forward hook (fastpath.ts). */
  render(state: DesiredState, epoch = 1): Rendered {
    const opts: RenderOptions = { logPrefix: state.config.logPrefix, logRateLimitPerSecond: state.config.logRateLimitPerSecond };
    if (state.config.flowLogGroup !== undefined) opts.flowLogGroup = state.config.flowLogGroup;
    this.flowLogGroup = state.config.flowLogGroup;
    const key = `${opts.logPrefix}\0${opts.logRateLimitPerSecond}\0${opts.flowLogGroup ?? ""}`;
    if (key !== this.optsKey) {
      this.policyCache = new WeakMap();
      this.workloadCache = new WeakMap();
      this.optsKey = key;
    }
    return this.renderWith(state, opts, epoch);
  }

  private policyChainOf(state: DesiredState, id: string, dir: Direction, opts: RenderOptions): NftChain {
    const p = state.policies.get(id);
    if (!p) return { rules: renderPolicyRules(undefined, id, dir, opts) };
    let c = this.policyCache.get(p);
    if (!c) this.policyCache.set(p, (c = {}));
    return (c[dir] ??= { rules: renderPolicyRules(p, id, dir, opts) });
  }

  private setsOf(state: DesiredState, id: string, type: "net" | "ip-port"): [string, NftSet][] {
    const st = state.ipsets.get(id);
    const cached = st ? this.setCache.get(st) : undefined;
    if (st && cached && cached.version === st.version) return cached.sets;
    const out = renderIpSets(id, type, st);
    if (st) this.setCache.set(st, { version: st.version, sets: out });
    return out;
  }

  /** Flow logs for the workload chains being rendered (set by render()). */
  private flowLogGroup: number | undefined;

  private workloadOf(w: WorkloadEndpointUpdate): WorkloadParts {
    let parts = this.workloadCache.get(w);
    if (parts) return parts;
    parts = workloadParts(w, this.flowLogGroup);
    this.workloadCache.set(w, parts);
    return parts;
  }

  private renderWith(state: DesiredState, opts: RenderOptions, epoch: number): Rendered {
    const sets = new Map<string, NftSet>();
    const maps = new Map<string, NftMap>();
    const chains = new Map<string, NftChain>();

    // Which policy chains are needed: every (id, direction) an endpoint refers to.
    const used = new Map<string, { id: string; dir: Direction }>();
    const use = (p: EndpointDirectionPolicy, dir: Direction) => {
      for (const t of p.tiers) for (const id of t.policies) used.set(policyChain(id, dir), { id, dir });
      for (const id of p.profiles) used.set(policyChain(id, dir), { id, dir });
    };
    const workloads = [...state.workloads.values()].sort((a, b) => (a.iface < b.iface ? -1 : a.iface > b.iface ? 1 : 0));
    // Workload interfaces: FelixConfiguration interfacePrefix, and endpoints' names it misses.
    const WL = nftIfaceMatch(
      state.config.interfacePrefixes ?? DEFAULT_INTERFACE_PREFIXES,
      workloads.map((w) => w.iface),
    );
    for (const w of workloads) for (const [name, id, dir] of this.workloadOf(w).uses) used.set(name, { id, dir });
    const heps = hostsByIface(state);
    for (const h of heps.values()) {
      use(h.normal.ingress, "ingress");
      use(h.normal.egress, "egress");
      use(h.forward.ingress, "ingress");
      use(h.forward.egress, "egress");
      use(h.preDnat.ingress, "ingress");
      use(h.untracked.ingress, "ingress");
      use(h.untracked.egress, "egress");
    }

    // Sets: every known IP set, and every one a used policy names (empty until it arrives).
    const refs: Refs = { sets: new Map() };
    for (const [id, s] of state.ipsets) refs.sets.set(id, s.type);
    for (const { id } of used.values()) {
      const p = state.policies.get(id);
      if (!p) continue;
      let mine = this.refsCache.get(p);
      if (!mine) {
        const r: Refs = { sets: new Map() };
        for (const rule of [...p.ingress, ...p.egress]) collectSetRefs(rule.match, r);
        this.refsCache.set(p, (mine = r.sets));
      }
      for (const [sid, type] of mine) if (!refs.sets.has(sid) || type === "ip-port") refs.sets.set(sid, type);
    }
    for (const id of [...refs.sets.keys()].sort()) {
      for (const [name, set] of this.setsOf(state, id, refs.sets.get(id)!)) sets.set(name, set);
    }

    // Anti-spoofing sets: (interface . source) pairs each workload may send from.
    for (const f of [4, 6] as const) {
      const elements: string[] = [];
      for (const w of workloads) elements.push(...this.workloadOf(w).src[f]);
      sets.set(`wl-src${f}`, { type: `ifname . ${addrType(f)}`, interval: true, elements: new Set(elements) });
    }

    // Verdict maps.
    const hep = dispatchMaps(workloads, maps);

    // Failsafe chains.
    const failsafe = (list: { protocol: string; port: number }[]) => {
      const out: string[] = [];
      for (const proto of ["tcp", "udp"]) {
        const ports = [...new Set(list.filter((p) => p.protocol === proto).map((p) => p.port))].sort((a, b) => a - b);
        if (ports.length) out.push(`${proto} dport ${ports.length === 1 ? ports[0] : `{ ${ports.join(", ")} }`} accept`);
      }
      return out;
    };
    chains.set("failsafe-in", { rules: failsafe(state.config.failsafeInbound) });
    chains.set("failsafe-out", { rules: failsafe(state.config.failsafeOutbound) });

    // Policy chains.
    for (const name of [...used.keys()].sort()) {
      const { id, dir } = used.get(name)!;
      chains.set(name, this.policyChainOf(state, id, dir, opts));
    }

    // Workload endpoint chains.
    for (const w of workloads) {
      const s = ifaceSuffix(w.iface);
      const parts = this.workloadOf(w);
      chains.set(`fw-${s}`, parts.fw);
      chains.set(`tw-${s}`, parts.tw);
    }

    // Host endpoint chains and their dispatch entries.
    hostEndpointChains(heps, hep, chains, this.flowLogGroup);

    // Dispatch chains.
    dispatchChains(state, hep, chains, WL);

    // Workload → control plane (issue #19): sets the graph keeps, one static chain.
    controlPlane(state, sets, chains);

    // Base chains. Traffic no workload and no host endpoint is concerned with leaves each hook
    // at its first rule; hooks (or parts) that only serve host endpoints are empty without them.
    const anyHep = heps.size > 0;
    const has = (d: HepDispatch) => hep.wildcard.has(d) || hep.maps.get(d)!.size > 0;
    baseChains(chains, WL, anyHep, has, epoch);
    // natOutgoing (felix's cali-nat-outgoing): only when some pool asks for it.
    natOutgoing(state, sets, chains);
    return { sets, maps, chains };
  }
}
