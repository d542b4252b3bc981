/**
 * What the speaker shows: the Loc-RIB as route views (`tabby bgp routes`, the agent's status) and
 * a peer's status (`tabby bgp peers`, metrics), with communities in RFC 1997 / RFC 8092 text
 * form and why a session is not up in words. Pure.
 */
import type { Rib } from "./rib/rib.js";
import { BgpError } from "./errors.js";
import { describeSessionError } from "./notification-text.js";
import type { PeerConfig } from "./peer-config.js";
import type { PeerStatus, RouteView } from "./speaker-types.js";
import type { AddressFamily } from "./wire/constants.js";

const ORIGINS = ["igp", "egp", "incomplete"];

export function parseCommunity(s: string): number {
  const named: Record<string, number> = { "no-export": 0xffffff01, "no-advertise": 0xffffff02, "no-export-subconfed": 0xffffff03 };
  const n = named[s.toLowerCase()];
  if (n !== undefined) return n;
  const m = /^(\d+):(\d+)$/.exec(s);
  if (!m || Number(m[1]) > 0xffff || Number(m[2]) > 0xffff) throw new BgpError("BGP_BAD_COMMUNITY", `not a community: ${s}`);
  return ((Number(m[1]) << 16) | Number(m[2])) >>> 0;
}

export function formatCommunity(c: number): string {
  return `${c >>> 16}:${c & 0xffff}`;
}

/** The Loc-RIB of one family (or both), sorted by prefix, best path first. */
export function routeViews(rib: Rib, family?: AddressFamily): RouteView[] {
  const entries = [...rib.all(family)].sort((a, b) => a.prefix.addr.compare(b.prefix.addr) || a.prefix.len - b.prefix.len);
  const out: RouteView[] = [];
  for (const e of entries) {
    const paths = e.paths.map((p) => {
      const v: RouteView["paths"][number] = {
        nextHop: p.attrs.nextHop ? p.attrs.nextHop.toString() : "self",
        asPath: p.attrs.asPath.flatMap((s) => s.asns),
        origin: ORIGINS[p.attrs.origin] ?? "incomplete",
        communities: p.attrs.communities.map(formatCommunity),
        peer: p.source ? p.source.id : "local",
        best: p === e.decision.best,
      };
      if (p.attrs.largeCommunities.length > 0) v.largeCommunities = p.attrs.largeCommunities.map((c) => c.join(":"));
      if (p.attrs.localPref !== undefined) v.localPref = p.attrs.localPref;
      if (p.attrs.med !== undefined) v.med = p.attrs.med;
      if (p.attrs.originatorId) v.originatorId = p.attrs.originatorId;
      if (p.attrs.clusterList.length > 0) v.clusterList = p.attrs.clusterList;
      return v;
    });
    paths.sort((a, b) => Number(b.best) - Number(a.best));
    out.push({ prefix: e.prefix.toString(), paths });
  }
  return out;
}

/** What the status of one peer is made of. */
export interface PeerFacts {
  config: PeerConfig;
  session: {
    state: string;
    established: boolean;
    establishedAt: number | undefined;
    lastError: string | undefined;
    counters: { updatesReceived: number; updatesSent: number; flaps: number };
  };
  accepted: number;
  rejected: number;
  advertised: number;
  updateGroup: number | undefined;
  /** Why the speaker itself took the session down (the maximum-prefix guard). */
  limitReason: string | undefined;
}

export function peerStatusOf(p: PeerFacts, now: number): PeerStatus {
  const s = p.session;
  const st: PeerStatus = {
    address: p.config.address,
    asNumber: p.config.asNumber,
    state: s.state,
    established: s.established,
    prefixesReceived: p.accepted + p.rejected,
    prefixesAccepted: p.accepted,
    prefixesAdvertised: p.advertised,
    updatesReceived: s.counters.updatesReceived,
    updatesSent: s.counters.updatesSent,
    flaps: s.counters.flaps,
  };
  if (p.updateGroup !== undefined) st.updateGroup = p.updateGroup;
  if (s.establishedAt !== undefined) st.uptimeSeconds = Math.floor((now - s.establishedAt) / 1000);
  if (s.lastError) st.lastError = s.lastError;
  if (!s.established) {
    const why = p.limitReason ?? (s.lastError ? describeSessionError(s.lastError) : undefined);
    if (why) st.reason = why;
  }
  return st;
}
