/**
 * The pure renderer: DesiredState → the objects of table `inet tabby` (sets, verdict maps,
 * chains with their rules as nft text), then → `nft -f` scripts: a full atomic replace, or the
 * minimal delta between two renderings. Calico's felix rules/ + nftables/ packages do the same
 * job (calico-spec §3.3, §4.2, §4.3); the layout is tabby's own, one table for both families.
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
import type {
  CompiledRule,
  Direction,
  EndpointDirectionPolicy,
  HostEndpointUpdate,
  PolicyUpdate,
  RuleMatch,
  WorkloadEndpointUpdate,
} from "../../calc/policy-output.js";
import { Prefix, tryParsePrefix } from "../../net/prefix.js";
import { forwardHead, forwardTail } from "./fastpath.js";
import { renderMatch } from "./match.js";
import { nftIfaceMatch } from "./iface-match.js";
import { DEFAULT_INTERFACE_PREFIXES } from "../../net/iface-prefix.js";
import { MARK_ACCEPT, MARK_MASK, MARK_PASS, TABLE, hex32, ifaceSuffix, ipSetName, nftString, policyChain } from "./names.js";
import type { CanonicalMember, DesiredState } from "./state.js";

export interface NftSet {
  /** "ipv4_addr", "ifname . ipv4_addr", … */
  type: string;
  interval: boolean;
  comment?: string;
  /** Element texts as written in a script. */
  elements: Set<string>;
}
export interface NftMap {
  type: string;
  /** Key text → verdict text ("goto fw-tab…"). */
  elements: Map<string, string>;
}
export interface NftChain {
  /** Base chain declaration ("type filter hook input priority filter; policy accept;"). */
  hook?: string;
  rules: string[];
}
/** Everything in table inet tabby, in script order. */
export interface Rendered {
  sets: Map<string, NftSet>;
  maps: Map<string, NftMap>;
  chains: Map<string, NftChain>;
}

const A = hex32(MARK_ACCEPT);
const P = hex32(MARK_PASS);
const ZERO = hex32(0);
const CLEAR_ALL = `meta mark set meta mark & ${hex32(~MARK_MASK)}`;
const CLEAR_PASS = `meta mark set meta mark & ${hex32(~MARK_PASS)}`;
const IF_ACCEPTED = `meta mark & ${A} == ${A}`;
const IF_NOT_ACCEPTED = `meta mark & ${A} == ${ZERO}`;
const IF_NOT_PASSED = `meta mark & ${P} == ${ZERO}`;
const SET_ACCEPT_RETURN = `meta mark set meta mark | ${A} return`;
const SET_PASS_RETURN = `meta mark set meta mark | ${P} return`;

/** ICMPv6 types a workload must reach its host with: MLD 130-132, RS 133, NS 135, NA 136. */
const ICMPV6_TO_HOST = "icmpv6 type { 130, 131, 132, 133, 135, 136 } accept";
/**
 * Neighbour discovery and MLD on host interfaces (RS, RA, NS, NA, redirect; MLD queries and
 * reports): IPv6's link-layer plumbing, which host-endpoint policy must not cut, as ARP (which
 * an inet table never sees) is not cut for IPv4. Without it a host endpoint with no policy stops
 * the host resolving its IPv6 next hops and so stops forwarding IPv6.
 */
const ICMPV6_LINK_PLUMBING = "icmpv6 type { 130, 131, 132, 133, 134, 135, 136, 137, 143 } accept";

type Mode = "normal" | "forward" | "prednat" | "untracked";

export interface RenderOptions {
  logPrefix: string;
  logRateLimitPerSecond: number;
  /**
   * Flow logs (src/flows/): the NFLOG group that allow and deny verdicts and end-of-tier drops
   * copy their packet to, with a prefix naming the policy, direction and rule. Absent: none.
   * Only a connection's first packet reaches the policy chains (established traffic is accepted
   * before them), so allowed flows cost one log per connection; denied ones one per packet.
   */
  flowLogGroup?: number;
}

/**
 * The NFLOG statement of a flow-log verdict: prefix `F <A|D> <what> <dir> <rule number|->`, at
 * most 127 bytes, written in the order `nft list` prints it (so readback sees no drift).
 */
export function flowLog(group: number, verdict: "A" | "D", what: string, dir: Direction, rule: string): string {
  return `log prefix ${nftString(`F ${verdict} ${what.slice(0, 100)} ${dir} ${rule}`)} group ${group}`;
}

function comment(text: string): string {
  return `comment ${nftString(text.slice(0, 120))}`;
}

/** The nft rules of one compiled rule (zero, one or several: families and OR alternatives). */
export function renderRule(rule: CompiledRule, opts: RenderOptions, at?: { id: string; dir: Direction; index: number }): string[] {
  let action: string;
  const flow = (v: "A" | "D") => (opts.flowLogGroup !== undefined && at ? `${flowLog(opts.flowLogGroup, v, at.id, at.dir, String(at.index + 1))} ` : "");
  switch (rule.action) {
    case "allow":
      action = flow("A") + SET_ACCEPT_RETURN;
      break;
    case "deny":
      action = flow("D") + "drop";
      break;
    case "pass":
      action = SET_PASS_RETURN;
      break;
    case "log": {
      const limit = opts.logRateLimitPerSecond > 0 ? `limit rate ${Math.floor(opts.logRateLimitPerSecond)}/second ` : "";
      action = `${limit}log prefix ${nftString(opts.logPrefix.slice(0, 120))}`;
      break;
    }
  }
  return renderMatch(rule.match as RuleMatch).map((m) => [m.text, action, comment(rule.id)].filter((s) => s).join(" "));
}

/** A policy's (or profile's) chain rules in one direction. */
export function renderPolicyRules(p: PolicyUpdate | undefined, id: string, dir: Direction, opts: RenderOptions): string[] {
  if (!p) return id.startsWith("pro/") ? [`drop ${comment("missing profile " + id)}`] : [];
  return (dir === "ingress" ? p.ingress : p.egress).flatMap((r, index) => renderRule(r, opts, { id, dir, index }));
}

/** The body of an endpoint chain (§3.3). */
export function renderEndpointRules(
  pol: EndpointDirectionPolicy,
  dir: Direction,
  mode: Mode,
  opts: { failsafe?: "in" | "out"; invalidDrop?: boolean; flowLogGroup?: number } = {},
): string[] {
  const flow = (what: string) => (opts.flowLogGroup !== undefined ? `${flowLog(opts.flowLogGroup, "D", what, dir, "-")} ` : "");
  const rules = [CLEAR_ALL];
  if (opts.invalidDrop) rules.push("ct state invalid drop");
  if (opts.failsafe) rules.push(`jump failsafe-${opts.failsafe}`);
  const endOfTierDrop = mode === "normal" || mode === "forward";
  pol.tiers.forEach((tier, ti) => {
    if (!tier.policies.length) return;
    if (ti > 0) rules.push(`${CLEAR_PASS} ${comment("start of tier " + tier.name)}`);
    tier.policies.forEach((pid, pi) => {
      rules.push(`${pi > 0 ? IF_NOT_PASSED + " " : ""}jump ${policyChain(pid, dir)}`);
      rules.push(`${IF_ACCEPTED} return`);
    });
    if (endOfTierDrop && tier.defaultAction === "deny") {
      rules.push(`${IF_NOT_PASSED} ${flow("end-of-tier " + tier.name)}drop ${comment("end of tier " + tier.name)}`);
    }
  });
  if (endOfTierDrop) {
    for (const pid of pol.profiles) {
      rules.push(`jump ${policyChain(pid, dir)}`);
      rules.push(`${IF_ACCEPTED} return`);
    }
    rules.push(`${flow(pol.profiles.length ? "no-profile-accepted" : "no-policy-or-profile")}drop ${comment("no profile accepted")}`);
  }
  return rules;
}

/** Net members without those inside another member (nft interval sets reject overlaps). */
export function disjointNets(members: Iterable<{ cidr: string; len: number }>): { cidr: string; len: number }[] {
  const list = [...members];
  // Host addresses only (the common case): distinct members cannot contain one another.
  if (list.every((m) => m.len === (m.cidr.includes(":") ? 128 : 32))) return list;
  const sorted = list.sort((a, b) => a.len - b.len);
  const kept = new Map<number, Set<string>>();
  const out: { cidr: string; len: number }[] = [];
  for (const m of sorted) {
    const p = tryParsePrefix(`${m.cidr}/${m.len}`)!;
    let inside = false;
    for (const [len, nets] of kept) {
      if (len <= m.len && nets.has(new Prefix(p.addr, len).network().addr.toString())) {
        inside = true;
        break;
      }
    }
    if (inside) continue;
    let s = kept.get(m.len);
    if (!s) kept.set(m.len, (s = new Set()));
    s.add(p.addr.toString());
    out.push(m);
  }
  return out;
}

function netText(m: { cidr: string; len: number }): string {
  const full = m.cidr.includes(":") ? 128 : 32;
  return m.len === full ? m.cidr : `${m.cidr}/${m.len}`;
}

function addrType(f: 4 | 6): string {
  return f === 4 ? "ipv4_addr" : "ipv6_addr";
}

interface Refs {
  /** IP set id → type, for every id a rule mentions. */
  sets: Map<string, "net" | "ip-port">;
}

function collectSetRefs(m: RuleMatch, refs: Refs): void {
  for (const id of [...(m.srcIpSets ?? []), ...(m.notSrcIpSets ?? []), ...(m.dstIpSets ?? []), ...(m.notDstIpSets ?? [])]) {
    if (!refs.sets.has(id)) refs.sets.set(id, "net");
  }
  for (const id of [...(m.srcNamedPortIpSets ?? []), ...(m.dstNamedPortIpSets ?? [])]) refs.sets.set(id, "ip-port");
}

/** Host endpoints by interface (first id wins when two name the same interface). */
function hostsByIface(state: DesiredState): Map<string, HostEndpointUpdate> {
  const out = new Map<string, HostEndpointUpdate>();
  for (const id of [...state.hosts.keys()].sort()) {
    const h = state.hosts.get(id)!;
    if (!out.has(h.iface)) out.set(h.iface, h);
  }
  return out;
}

const HEP_DISPATCH = ["hn-in", "hn-out", "hf-in", "hf-out", "hp-in", "hu-in", "hu-out"] as const;
type HepDispatch = (typeof HEP_DISPATCH)[number];

/** Renders the whole desired table (no cache). */
export function renderTable(state: DesiredState, epoch = 1): Rendered {
  return new TableRenderer().render(state, epoch);
}

interface WorkloadParts {
  fw: NftChain;
  tw: NftChain;
  src: Record<4 | 6, string[]>;
  /** Policy chains the endpoint jumps to: [chain name, policy id, direction]. */
  uses: [string, string, Direction][];
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
    const members = [...(st?.members.values() ?? [])];
    const out: [string, NftSet][] = [];
    for (const f of [4, 6] as const) {
      const mine = members.filter((m) => m.family === f);
      let elements: string[];
      if (type === "net") {
        elements = disjointNets(mine.filter((m): m is Extract<CanonicalMember, { kind: "net" }> => m.kind === "net")).map(netText);
      } else {
        elements = mine.filter((m) => m.kind === "ip-port").map((m) => `${m.addr} . ${m.proto} . ${m.port}`);
      }
      out.push([
        ipSetName(id, f, type),
        {
          type: type === "net" ? addrType(f) : `${addrType(f)} . inet_proto . inet_service`,
          interval: type === "net",
          comment: id,
          elements: new Set(elements.sort()),
        },
      ]);
    }
    if (st) this.setCache.set(st, { version: st.version, sets: out });
    return out;
  }

  /** Flow logs for the workload chains being rendered (set by render()). */
  private flowLogGroup: number | undefined;

  private workloadOf(w: WorkloadEndpointUpdate): WorkloadParts {
    const flowOpt = this.flowLogGroup !== undefined ? { flowLogGroup: this.flowLogGroup } : {};
    let parts = this.workloadCache.get(w);
    if (parts) return parts;
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
    parts = {
      uses,
      fw: { rules: renderEndpointRules(w.egress, "egress", "normal", { invalidDrop: true, ...flowOpt }) },
      tw: { rules: renderEndpointRules(w.ingress, "ingress", "normal", { invalidDrop: true, ...flowOpt }) },
      src,
    };
    this.workloadCache.set(w, parts);
    return parts;
  }

  /**
   * Workload → control plane (issue #19): `wl-cp`, jumped to for every packet in from a `tab*`
   * interface in raw prerouting (before conntrack, NAT and policy: the forward and the input
   * path alike) and again after DNAT in filter input/forward. A packet to a control-plane port
   * (@cp-ports) on this host (any local address), on any node (@cp-nodes4/6) or on another
   * control-plane address (@cp-other4/6: the workload gateway, the datastore) is dropped,
   * unless it comes from an interface in @cp-open. Membership changes touch no rule.
   */
  private controlPlaneOf(state: DesiredState, sets: Map<string, NftSet>, chains: Map<string, NftChain>): void {
    const cp = state.controlPlane;
    for (const f of [4, 6] as const) {
      sets.set(`cp-nodes${f}`, { type: addrType(f), interval: false, comment: "every node's addresses", elements: hostAddrs(cp.nodeAddrs, f) });
      sets.set(`cp-other${f}`, { type: addrType(f), interval: false, comment: "other control-plane addresses", elements: hostAddrs(cp.otherAddrs, f) });
    }
    const ports = new Set<string>();
    for (const p of [...cp.ports].sort((a, b) => a.protocol.localeCompare(b.protocol) || a.port - b.port))
      ports.add(`${p.protocol === "tcp" ? 6 : 17} . ${p.port}`);
    sets.set("cp-ports", { type: "inet_proto . inet_service", interval: false, comment: "control-plane ports", elements: ports });
    sets.set("cp-open", {
      type: "ifname",
      interval: false,
      comment: "workloads allowed to reach the control plane",
      elements: new Set([...cp.openInterfaces].sort().map(nftString)),
    });
    chains.set("wl-cp", {
      rules: [
        `meta l4proto . th dport != @cp-ports return`,
        `iifname @cp-open return`,
        `fib daddr type local drop ${comment("workload to this host's control plane")}`,
        `ip daddr @cp-nodes4 drop ${comment("workload to a node's control plane")}`,
        `ip6 daddr @cp-nodes6 drop ${comment("workload to a node's control plane")}`,
        `ip daddr @cp-other4 drop ${comment("workload to the gateway or the datastore")}`,
        `ip6 daddr @cp-other6 drop ${comment("workload to the gateway or the datastore")}`,
      ],
    });
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
    for (const [iface, h] of heps) {
      const s = ifaceSuffix(iface);
      const add = (d: HepDispatch, chain: string, rules: string[]) => {
        chains.set(chain, { rules });
        if (iface === "*") wildcard.set(d, chain);
        else hepMaps.get(d)!.set(nftString(iface), `goto ${chain}`);
      };
      // flow logs: the tracked (normal, forward) chains' drops too; preDNAT and untracked ones never drop at their end
      const hepFlow = this.flowLogGroup !== undefined ? { flowLogGroup: this.flowLogGroup } : {};
      add("hn-in", `fh-${s}`, renderEndpointRules(h.normal.ingress, "ingress", "normal", { failsafe: "in", invalidDrop: true, ...hepFlow }));
      add("hn-out", `th-${s}`, renderEndpointRules(h.normal.egress, "egress", "normal", { failsafe: "out", invalidDrop: true, ...hepFlow }));
      if (h.forward.ingress.tiers.length) add("hf-in", `fhfw-${s}`, renderEndpointRules(h.forward.ingress, "ingress", "forward", hepFlow));
      if (h.forward.egress.tiers.length) add("hf-out", `thfw-${s}`, renderEndpointRules(h.forward.egress, "egress", "forward", hepFlow));
      if (h.preDnat.ingress.tiers.length) add("hp-in", `pd-${s}`, renderEndpointRules(h.preDnat.ingress, "ingress", "prednat", { failsafe: "in" }));
      if (h.untracked.ingress.tiers.length) add("hu-in", `uhi-${s}`, renderEndpointRules(h.untracked.ingress, "ingress", "untracked", { failsafe: "in" }));
      if (h.untracked.egress.tiers.length) add("hu-out", `uho-${s}`, renderEndpointRules(h.untracked.egress, "egress", "untracked", { failsafe: "out" }));
    }

    // Dispatch chains.
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

    // Workload → control plane (issue #19): sets the graph keeps, one static chain.
    this.controlPlaneOf(state, sets, chains);

    // Base chains. Traffic no workload and no host endpoint is concerned with leaves each hook
    // at its first rule; hooks (or parts) that only serve host endpoints are empty without them.
    const anyHep = heps.size > 0;
    const has = (d: HepDispatch) => wildcard.has(d) || hepMaps.get(d)!.size > 0;
    chains.set("raw-pre", {
      hook: "type filter hook prerouting priority raw; policy accept;",
      rules: [
        ...(anyHep ? [CLEAR_ALL] : []),
        ...(has("hu-in") ? [`iifname != ${WL} jump hu-in`, `${IF_ACCEPTED} notrack accept ${comment("untracked policy accepted")}`] : []),
        `iifname != ${WL} accept ${comment("not from a workload")}`,
        `ip6 saddr != fe80::/10 iifname . ip6 saddr != @wl-src6 drop ${comment("spoofed source")}`,
        `iifname . ip saddr != @wl-src4 drop ${comment("spoofed source")}`,
        `jump wl-cp`,
      ],
    });
    chains.set("raw-out", {
      hook: "type filter hook output priority raw; policy accept;",
      rules: [
        ...(anyHep ? [CLEAR_ALL] : []),
        ...(has("hu-out") ? [`oifname != ${WL} jump hu-out`, `${IF_ACCEPTED} notrack accept ${comment("untracked policy accepted")}`] : []),
      ],
    });
    chains.set("mangle-pre", {
      hook: "type filter hook prerouting priority mangle; policy accept;",
      rules: has("hp-in") ? [`${IF_ACCEPTED} accept`, "ct state established,related accept", `iifname != ${WL} jump hp-in`] : [],
    });
    chains.set("filter-in", {
      hook: "type filter hook input priority filter; policy accept;",
      rules: [
        "ct state established,related accept",
        `iifname ${WL} jump wl-cp`,
        `iifname ${WL} goto wl-to-host`,
        ...(anyHep ? [`${IF_ACCEPTED} accept`, ICMPV6_LINK_PLUMBING, "jump hn-in"] : []),
      ],
    });
    chains.set("filter-fw", {
      hook: "type filter hook forward priority filter; policy accept;",
      rules: [
        ...forwardHead(epoch),
        `iifname ${WL} jump wl-cp`,
        ...(has("hf-in") ? [`${IF_NOT_ACCEPTED} jump hf-in`] : []),
        `iifname ${WL} jump from-wl`,
        `oifname ${WL} jump to-wl`,
        ...(has("hf-out") ? ["jump hf-out"] : []),
        forwardTail(epoch),
      ],
    });
    chains.set("filter-out", {
      hook: "type filter hook output priority filter; policy accept;",
      rules: [
        "ct state established,related accept",
        ...(anyHep ? [`${IF_ACCEPTED} accept`, `oifname ${WL} accept ${comment("host to workload is not policed")}`, ICMPV6_LINK_PLUMBING, "jump hn-out"] : []),
      ],
    });
    // natOutgoing (felix's cali-nat-outgoing): only when some pool asks for it.
    const nat = state.config.natOutgoing;
    if (nat?.natPools.length) {
      const fam = (list: string[], f: 4 | 6) => new Set(list.filter((c) => c.includes(":") === (f === 6)));
      for (const f of [4, 6] as const) {
        sets.set(`nat-pools${f}`, { type: addrType(f), interval: true, comment: "IP pools with natOutgoing", elements: fam(nat.natPools, f) });
        sets.set(`all-pools${f}`, { type: addrType(f), interval: true, comment: "every IP pool", elements: fam(nat.allPools, f) });
      }
      chains.set("nat-post", {
        hook: "type nat hook postrouting priority srcnat; policy accept;",
        rules: [
          `ip saddr @nat-pools4 ip daddr != @all-pools4 ip daddr != @cp-nodes4 masquerade ${comment("natOutgoing")}`,
          `ip6 saddr @nat-pools6 ip6 daddr != @all-pools6 ip6 daddr != @cp-nodes6 masquerade ${comment("natOutgoing")}`,
        ],
      });
    }
    return { sets, maps, chains };
  }
}

/** The addresses of a list in one family, canonical (RFC 5952), host addresses only. */
function hostAddrs(list: readonly string[], f: 4 | 6): Set<string> {
  const out = new Set<string>();
  for (const a of list) {
    const p = tryParsePrefix(a);
    if (p && p.family === f) out.add(p.addr.toString());
  }
  return out;
}

function setBody(s: NftSet, indent: string): string[] {
  const out = [`${indent}type ${s.type}`];
  if (s.interval) out.push(`${indent}flags interval`);
  if (s.comment) out.push(`${indent}comment ${nftString(s.comment)}`);
  return out;
}

/**
 * The full atomic replace: create-if-missing, delete, define. One transaction, so the kernel
 * swaps the old table for the new one with no instant without rules; conntrack entries are
 * not part of the ruleset and survive.
 */
export function fullScript(r: Rendered): string {
  const out = [`table ${TABLE}`, `delete table ${TABLE}`, `table ${TABLE} {`];
  for (const [name, s] of r.sets) {
    out.push(`\tset ${name} {`, ...setBody(s, "\t\t"));
    if (s.elements.size) out.push(`\t\telements = { ${[...s.elements].join(", ")} }`);
    out.push("\t}");
  }
  for (const [name, m] of r.maps) {
    out.push(`\tmap ${name} {`, `\t\ttype ${m.type}`);
    if (m.elements.size) out.push(`\t\telements = { ${[...m.elements].map(([k, v]) => `${k} : ${v}`).join(", ")} }`);
    out.push("\t}");
  }
  for (const [name, c] of r.chains) {
    out.push(`\tchain ${name} {`);
    if (c.hook) out.push(`\t\t${c.hook}`);
    for (const rule of c.rules) out.push(`\t\t${rule}`);
    out.push("\t}");
  }
  out.push("}");
  return out.join("\n") + "\n";
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export interface DeltaStats {
  setElementsAdded: number;
  setElementsRemoved: number;
  chainsRewritten: number;
  chainsAdded: number;
  chainsRemoved: number;
}

/**
 * The minimal script turning `from` into `to`, or undefined when only a full replace will do
 * (a base chain's hook changed). Order inside the one transaction: sets whose members were
 * removed are flushed; new sets and element changes are declared in one `table { set … }`
 * block; new maps; new chains created empty; changed and new chains flushed and refilled; map
 * elements (a map that lost or changed an entry is flushed and declared whole); removed chains
 * flushed then deleted; removed maps and sets deleted. Set membership changes touch no rule.
 * "" when nothing differs.
 *
 * Why declarations rather than `add element` / `delete element`: nft 1.0.6 loads every set's
 * elements into its cache before any `add element` or `delete element` command, which costs
 * about 3 s with 5,000 sets, whereas a set declaration with `elements = { … }`, `flush set` and
 * `flush map` need only the table, chain and set names (0.1–0.3 s). So an element removal is
 * written as flush + re-declare the set whole (cost grows with that set's size, not the
 * table's: 0.5 s for a 33,000-member set), and an addition as a declaration of the added
 * elements. Measured in docs/benchmarks.md ("nftables dataplane").
 */
export function deltaScript(from: Rendered, to: Rendered, stats?: DeltaStats): string | undefined {
  const out: string[] = [];
  const st: DeltaStats = stats ?? { setElementsAdded: 0, setElementsRemoved: 0, chainsRewritten: 0, chainsAdded: 0, chainsRemoved: 0 };
  const setBlock: string[] = [];
  for (const [name, s] of to.sets) {
    const old = from.sets.get(name);
    if (old === s) continue;
    if (old && (old.type !== s.type || old.interval !== s.interval)) return undefined;
    let removed = 0;
    if (old) for (const e of old.elements) if (!s.elements.has(e)) removed++;
    const added = old ? [...s.elements].filter((e) => !old.elements.has(e)) : [...s.elements];
    st.setElementsAdded += added.length;
    st.setElementsRemoved += removed;
    if (old && !removed && !added.length) continue;
    if (removed) out.push(`flush set ${TABLE} ${name}`);
    const elements = removed ? [...s.elements] : added;
    setBlock.push(`\tset ${name} {`, ...setBody(s, "\t\t"));
    if (elements.length) setBlock.push(`\t\telements = { ${elements.join(", ")} }`);
    setBlock.push("\t}");
  }
  if (setBlock.length) out.push(`table ${TABLE} {`, ...setBlock, "}");
  for (const [name, m] of to.maps) if (!from.maps.has(name)) out.push(`add map ${TABLE} ${name} { type ${m.type}; }`);
  const refill: string[] = [];
  for (const [name, c] of to.chains) {
    const old = from.chains.get(name);
    if (old === c) continue;
    if (old && old.hook !== c.hook) return undefined;
    if (!old) {
      out.push(c.hook ? `add chain ${TABLE} ${name} { ${c.hook} }` : `add chain ${TABLE} ${name}`);
      st.chainsAdded++;
      refill.push(name);
    } else if (!sameList(old.rules, c.rules)) {
      out.push(`flush chain ${TABLE} ${name}`);
      st.chainsRewritten++;
      refill.push(name);
    }
  }
  for (const name of refill) for (const rule of to.chains.get(name)!.rules) out.push(`add rule ${TABLE} ${name} ${rule}`);
  const mapBlock: string[] = [];
  for (const [name, m] of to.maps) {
    const old = from.maps.get(name);
    let changed = false;
    if (old) for (const [k, v] of old.elements) if (m.elements.get(k) !== v) changed = true;
    const added = [...m.elements].filter(([k, v]) => old?.elements.get(k) !== v);
    if (!changed && !added.length) continue;
    if (changed) out.push(`flush map ${TABLE} ${name}`);
    const elements = changed ? [...m.elements] : added;
    mapBlock.push(`\tmap ${name} {`, `\t\ttype ${m.type}`);
    if (elements.length) mapBlock.push(`\t\telements = { ${elements.map(([k, v]) => `${k} : ${v}`).join(", ")} }`);
    mapBlock.push("\t}");
  }
  if (mapBlock.length) out.push(`table ${TABLE} {`, ...mapBlock, "}");
  for (const [name, m] of from.maps) if (!to.maps.has(name) && m.elements.size) out.push(`flush map ${TABLE} ${name}`);
  const gone = [...from.chains.keys()].filter((n) => !to.chains.has(n));
  for (const name of gone) out.push(`flush chain ${TABLE} ${name}`);
  for (const name of gone) out.push(`delete chain ${TABLE} ${name}`);
  st.chainsRemoved += gone.length;
  for (const name of from.maps.keys()) if (!to.maps.has(name)) out.push(`delete map ${TABLE} ${name}`);
  for (const name of from.sets.keys()) if (!to.sets.has(name)) out.push(`delete set ${TABLE} ${name}`);
  return out.length ? out.join("\n") + "\n" : "";
}
