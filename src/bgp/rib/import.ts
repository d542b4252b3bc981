/**
 * Turns a decoded UPDATE from a peer into RIB operations: RFC 7606 treat-as-withdraw, loop
 * detection (own AS in AS_PATH from eBGP, unless allowed N times as BIRD's `allow local as`, RFC 4456 §8 ORIGINATOR_ID and CLUSTER_LIST), and the
 * attributes an eBGP peer may not set (LOCAL_PREF, ORIGINATOR_ID, CLUSTER_LIST). Time is a parameter.
 * Pure.
 */
import type { IP } from "../../net/ip.js";
import type { Prefix } from "../../net/prefix.js";
import type { PathAttributes } from "../wire/attributes.js";
import { AttrType, AsPathSegmentType, type AddressFamily } from "../wire/constants.js";
import type { UpdateMessage } from "../wire/update.js";
import type { Nlri } from "../wire/nlri.js";
import { prefixKey, RibPath, type Path, type PeerInfo, type RouteAttrs } from "./types.js";

export interface LocalIdentity {
  asNumber: number;
  routerId: string;
  clusterId: string;
}

export interface Withdrawal {
  family: AddressFamily;
  prefix: Prefix;
  pathId: number;
}

export interface ImportResult {
  announce: Path[];
  withdraw: Withdrawal[];
  /** Prefixes refused (loops, errors) and so treated as withdrawn. */
  rejected: number;
  /** Why the whole UPDATE was treated as withdraw, when it was. */
  treatAsWithdraw?: string;
}

function routeAttrs(a: PathAttributes, peer: PeerInfo, nextHop: IP, linkLocal?: IP): RouteAttrs {
  const r: RouteAttrs = {
    origin: a.origin ?? 2,
    asPath: a.asPath ?? [],
    nextHop,
    communities: a.communities ?? [],
    largeCommunities: a.largeCommunities ?? [],
    clusterList: peer.ibgp ? (a.clusterList ?? []) : [],
  };
  if (linkLocal) r.linkLocal = linkLocal;
  if (a.med !== undefined) r.med = a.med;
  if (peer.ibgp && a.localPref !== undefined) r.localPref = a.localPref;
  if (peer.ibgp && a.originatorId !== undefined) r.originatorId = a.originatorId;
  if (a.atomicAggregate) r.atomicAggregate = true;
  if (a.aggregator) r.aggregator = a.aggregator;
  if (a.unknown) r.unknown = a.unknown;
  return r;
}

/**
 * RFC 7606 §7.2 and RFC 4271 §6.3 for external peers: an AS_PATH with confederation segments, or
 * whose leftmost AS is not the peer's, is malformed (treat-as-withdraw).
 */
const { AS_SEQUENCE, AS_CONFED_SEQUENCE, AS_CONFED_SET } = AsPathSegmentType;

function ebgpAsPathReason(a: PathAttributes, peer: PeerInfo): string | undefined {
  if (peer.ibgp || !a.asPath) return undefined;
  if (a.asPath.some((s) => s.type === AS_CONFED_SEQUENCE || s.type === AS_CONFED_SET)) return "AS_PATH from an external peer holds a confederation segment";
  const first = a.asPath[0];
  if (!first || first.type !== AS_SEQUENCE || first.asns[0] !== peer.asNumber)
    return `AS_PATH from an external peer does not start with its AS ${peer.asNumber}`;
  return undefined;
}

/** RFC 7606 §7.5, §7.9, §7.10: from an external peer these are discarded, so their errors do not count. */
const IBGP_ONLY_ATTRIBUTES: ReadonlySet<number> = new Set([AttrType.LOCAL_PREF, AttrType.ORIGINATOR_ID, AttrType.CLUSTER_LIST]);

function loopReason(a: PathAttributes, peer: PeerInfo, local: LocalIdentity): string | undefined {
  if (!peer.ibgp) {
    let own = 0;
    for (const seg of a.asPath ?? []) for (const asn of seg.asns) if (asn === local.asNumber) own++;
    if (own > (peer.allowOwnAs ?? 0)) return peer.allowOwnAs ? `own AS in AS_PATH ${own} times (at most ${peer.allowOwnAs} allowed)` : "own AS in AS_PATH";
  }
  if (peer.ibgp && a.originatorId === local.routerId) return "own router id as ORIGINATOR_ID";
  if (peer.ibgp && (a.clusterList ?? []).includes(local.clusterId)) return "own cluster id in CLUSTER_LIST";
  return undefined;
}

export function importUpdate(u: UpdateMessage, peer: PeerInfo, local: LocalIdentity, now: number): ImportResult {
  const withdraw: Withdrawal[] = [];
  const wd = (family: AddressFamily, list: Nlri[]) => {
    for (const n of list) withdraw.push({ family, prefix: n.prefix, pathId: n.pathId });
  };
  wd("ipv4", u.withdrawn);
  const a = u.attributes;
  if (a.mpUnreach) wd(a.mpUnreach.family, a.mpUnreach.withdrawn);

  const reach: { family: AddressFamily; list: Nlri[]; nextHop: IP | undefined; linkLocal?: IP }[] = [];
  if (u.nlri.length > 0) reach.push({ family: "ipv4", list: u.nlri, nextHop: a.nextHop });
  if (a.mpReach && a.mpReach.nlri.length > 0) {
    const r: { family: AddressFamily; list: Nlri[]; nextHop: IP | undefined; linkLocal?: IP } = {
      family: a.mpReach.family,
      list: a.mpReach.nlri,
      nextHop: a.mpReach.nextHop,
    };
    if (a.mpReach.linkLocal) r.linkLocal = a.mpReach.linkLocal;
    reach.push(r);
  }
  const twa = u.errors?.find((e) => e.action === "treat-as-withdraw" && (peer.ibgp || e.attrType === undefined || !IBGP_ONLY_ATTRIBUTES.has(e.attrType)));
  const loop = reach.length > 0 ? (ebgpAsPathReason(a, peer) ?? loopReason(a, peer, local)) : undefined;
  const refuse = twa ? twa.message : loop;
  const announce: Path[] = [];
  let rejected = 0;
  for (const r of reach) {
    if (refuse || !r.nextHop) {
      wd(r.family, r.list);
      rejected += r.list.length;
      continue;
    }
    const attrs = routeAttrs(a, peer, r.nextHop, r.linkLocal);
    for (const n of r.list) announce.push(new RibPath(prefixKey(n.prefix), n.pathId, attrs, peer, now));
  }
  const out: ImportResult = { announce, withdraw, rejected };
  if (refuse && reach.length > 0) out.treatAsWithdraw = refuse;
  return out;
}
