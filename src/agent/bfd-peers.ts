/**
 * BGPPeer `failureDetectionMode: BFDIfDirectlyConnected` (Calico Enterprise): single-hop BFD
 * (RFC 5880/5881) to a peer whose address is on one of this node's connected networks (a
 * subnet of one of its addresses, or the far end of a point-to-point address); no BFD to any
 * other peer (multihop BFD is not what the field asks for), which `node status` shows with the
 * reason. Timers come from `tabby node run --bfd-*` (this node's flags). Pure: no I/O.
 */
import { tryParseIP, tryParsePrefix } from "../net/index.js";
import type { DesiredPeer } from "../calc/host-desired.js";

/** Milliseconds and a count, as the BFD service takes them (src/bfd/service.ts). */
export interface BfdTimers {
  minRx: number;
  minTx: number;
  multiplier: number;
}

export type PeerWithBfd = DesiredPeer & { bfd?: BfdTimers };

export interface BfdPlan {
  peers: PeerWithBfd[];
  /** Per peer address asking for BFD: why it runs without it (absent when BFD runs). */
  off: Map<string, string>;
}

/** True when `address` lies in one of the `connected` networks. */
export function directlyConnected(address: string, connected: string[]): boolean {
  const ip = tryParseIP(address);
  if (!ip) return false;
  return connected.some((c) => {
    const p = tryParsePrefix(c);
    return !!p && p.family === ip.family && p.contains(ip);
  });
}

/**
 * Adds `bfd` to the peers that ask for it and are directly connected. `connected` undefined: the
 * node's networks are unknown, so no peer gets BFD; `timers` undefined: this agent runs without BFD.
 */
export function planBfd(peers: DesiredPeer[], connected: string[] | undefined, timers: BfdTimers | undefined): BfdPlan {
  const off = new Map<string, string>();
  const out = peers.map((p): PeerWithBfd => {
    const { bfdIfDirectlyConnected, ...rest } = p;
    if (!bfdIfDirectlyConnected) return rest;
    if (!timers) off.set(p.address, "BFD off: this agent runs without BFD (--bfd off)");
    else if (!connected) off.set(p.address, "BFD off: this node's connected networks are unknown");
    else if (!directlyConnected(p.address, connected))
      off.set(p.address, "BFD off: the peer is not directly connected (failureDetectionMode BFDIfDirectlyConnected)");
    else return { ...rest, bfd: { ...timers } };
    return rest;
  });
  return { peers: out, off };
}
