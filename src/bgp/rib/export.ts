/**
 * Adj-RIB-Out computation: what (if anything) of a best path is advertised to one peer, and with
 * which attributes. RFC 4271 §9.1.3 and §5.1 (AS_PATH prepend and next-hop self towards eBGP,
 * LOCAL_PREF only on iBGP, MED not passed to another AS), iBGP split horizon and RFC 4456 §6/§8
 * reflection (ORIGINATOR_ID, CLUSTER_LIST), RFC 1997 well-known communities. Pure.
 */
import type { IP } from "../../net/ip.js";
import type { AsPathSegment, PathAttributes } from "../wire/attributes.js";
import { AsPathSegmentType, WellKnownCommunity, type AddressFamily } from "../wire/constants.js";
import { degreeOfPreference, DEFAULT_LOCAL_PREF } from "./decision.js";
import type { Path, PeerInfo } from "./types.js";

export interface ExportTarget {
  peer: PeerInfo;
  localAs: number;
  routerId: string;
  clusterId: string;
  /** Our address for each family on this session (next-hop self). */
  selfNextHop: Partial<Record<AddressFamily, IP>>;
}

/** A route as it goes out: attributes without next-hop fields, and the next hop. */
export interface OutRoute {
  attrs: PathAttributes;
  nextHop: IP;
}

export function prependAs(segs: AsPathSegment[], asn: number): AsPathSegment[] {
  const first = segs[0];
  if (first && first.type === AsPathSegmentType.AS_SEQUENCE && first.asns.length < 255) {
    return [{ type: first.type, asns: [asn, ...first.asns] }, ...segs.slice(1)];
  }
  return [{ type: AsPathSegmentType.AS_SEQUENCE, asns: [asn] }, ...segs];
}

export function exportRoute(path: Path, t: ExportTarget): OutRoute | undefined {
  const src = path.source;
  const to = t.peer;
  if (src && src.id === to.id) return undefined; // never back to where it came from
  const comms = path.attrs.communities;
  if (comms.includes(WellKnownCommunity.NO_ADVERTISE)) return undefined;
  if (!to.ibgp && (comms.includes(WellKnownCommunity.NO_EXPORT) || comms.includes(WellKnownCommunity.NO_EXPORT_SUBCONFED))) return undefined;
  // iBGP split horizon; RFC 4456 §6: from a client to everyone, from a non-client to clients only
  const reflecting = !!src && src.ibgp && to.ibgp;
  if (reflecting && !src.rrClient && !to.rrClient) return undefined;

  const a = path.attrs;
  const attrs: PathAttributes = { origin: a.origin };
  if (comms.length > 0) attrs.communities = comms;
  if (a.largeCommunities.length > 0) attrs.largeCommunities = a.largeCommunities;
  if (a.atomicAggregate) attrs.atomicAggregate = true;
  if (a.aggregator) attrs.aggregator = a.aggregator;
  if (a.unknown) attrs.unknown = a.unknown;
  const self = t.selfNextHop[path.family];
  let nextHop: IP | undefined;
  if (!to.ibgp) {
    attrs.asPath = prependAs(a.asPath, t.localAs);
    nextHop = !src && a.nextHop ? a.nextHop : self;
  } else {
    attrs.asPath = a.asPath;
    attrs.localPref = src ? degreeOfPreference(path) : (a.localPref ?? DEFAULT_LOCAL_PREF);
    if (a.med !== undefined) attrs.med = a.med;
    nextHop = a.nextHop ?? self;
    if (reflecting) {
      attrs.originatorId = a.originatorId ?? src.routerId;
      attrs.clusterList = [t.clusterId, ...a.clusterList];
    }
  }
  if (!nextHop || nextHop.family !== (path.family === "ipv4" ? 4 : 6)) return undefined;
  return { attrs, nextHop };
}
