/**
 * The base chains, one per netfilter hook tabby hooks into (raw-pre, raw-out, mangle-pre,
 * filter-in, filter-fw, filter-out, nat-post), and wl-cp, the workload → control plane chain
 * they jump to, with the sets these two read. The table layout is in render.ts's header.
 */
import { forwardHead, forwardTail } from "./fastpath.js";
import { nftString } from "./names.js";
import { CLEAR_ALL, IF_ACCEPTED, IF_NOT_ACCEPTED, comment } from "./policy-rules.js";
import type { HepDispatch } from "./endpoints.js";
import { addrType, hostAddrs } from "./sets.js";
import type { DesiredState } from "./state.js";
import type { NftChain, NftSet } from "./table.js";

/**
 * Neighbour discovery and MLD on host interfaces (RS, RA, NS, NA, redirect; MLD queries and
 * reports): IPv6's link-layer plumbing, which host-endpoint policy must not cut, as ARP (which
 * an inet table never sees) is not cut for IPv4. Without it a host endpoint with no policy stops
 * the host resolving its IPv6 next hops and so stops forwarding IPv6.
 */
const ICMPV6_LINK_PLUMBING = "icmpv6 type { 130, 131, 132, 133, 134, 135, 136, 137, 143 } accept";

/**
 * Workload → control plane (issue #19): `wl-cp`, jumped to for every packet in from a `tab*`
 * interface in raw prerouting (before conntrack, NAT and policy: the forward and the input
 * path alike) and again after DNAT in filter input/forward. A packet to a control-plane port
 * (@cp-ports) on this host (any local address), on any node (@cp-nodes4/6) or on another
 * control-plane address (@cp-other4/6: the workload gateway, the datastore) is dropped,
 * unless it comes from an interface in @cp-open. Membership changes touch no rule.
 */
export function controlPlane(state: DesiredState, sets: Map<string, NftSet>, chains: Map<string, NftChain>): void {
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

/**
 * The hook chains. Traffic no workload and no host endpoint is concerned with leaves each hook
 * at its first rule; hooks (or parts) that only serve host endpoints are empty without them.
 * `WL`: the workload interfaces' match; `anyHep`: some host endpoint exists; `has`: a host
 * endpoint dispatch has an entry; `epoch`: the policy epoch (fastpath.ts).
 */
export function baseChains(chains: Map<string, NftChain>, WL: string, anyHep: boolean, has: (d: HepDispatch) => boolean, epoch: number): void {
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
}

/** natOutgoing (felix's cali-nat-outgoing): nat-post and its pool sets, only when some pool asks for it. */
export function natOutgoing(state: DesiredState, sets: Map<string, NftSet>, chains: Map<string, NftChain>): void {
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
}
