/**
 * OPEN building, validation and capability negotiation (RFC 4271 §6.2, RFC 5492, RFC 4760 §8,
 * RFC 6793 §3, RFC 7911 §4, RFC 6286 identifiers, RFC 7313 enhanced route refresh, RFC 4724 §3
 * restart state and forwarding state). Pure.
 */
import { BgpProtocolError } from "./errors.js";
import { dottedToU32 } from "./wire/bytes.js";
import { BGP_VERSION, CapabilityCode, ErrorCode, OpenSubcode, SAFI, afiToFamily, familyToAfi, type AddressFamily } from "./wire/constants.js";
import type { CodecOptions } from "./wire/attributes.js";
import { openAsNumber, twoByteAs, type Capability, type OpenMessage } from "./wire/open.js";

export interface LocalOpenConfig {
  asNumber: number;
  routerId: string;
  holdTime: number;
  families: readonly AddressFamily[];
  /** ADD-PATH (RFC 7911) for every family: 0 none, 1 receive, 2 send, 3 both. */
  addPath: 0 | 1 | 2 | 3;
  /** Advertise graceful restart (RFC 4724) as a helper: restart time, no forwarding-state families. */
  gracefulRestartTime?: number;
  /**
   * RFC 4724 as a restarting speaker (with gracefulRestartTime): list every family with its
   * forwarding-state (F) bit, and set the restart-state (R) bit while this start is a restart.
   */
  restartingSpeaker?: { restarting: boolean; forwarding: boolean };
}

export function buildOpen(cfg: LocalOpenConfig): OpenMessage {
  const caps: Capability[] = [];
  for (const f of cfg.families) caps.push({ code: CapabilityCode.MULTIPROTOCOL, afi: familyToAfi(f), safi: SAFI.UNICAST });
  caps.push({ code: CapabilityCode.ROUTE_REFRESH });
  caps.push({ code: CapabilityCode.ENHANCED_ROUTE_REFRESH });
  caps.push({ code: CapabilityCode.FOUR_OCTET_AS, asNumber: cfg.asNumber });
  if (cfg.gracefulRestartTime !== undefined) {
    const rs = cfg.restartingSpeaker;
    const families = rs ? cfg.families.map((f) => ({ afi: familyToAfi(f), safi: SAFI.UNICAST, forwarding: rs.forwarding })) : [];
    // N bit: NOTIFICATIONs other than a Hard Reset keep routes too (RFC 8538)
    caps.push({ code: CapabilityCode.GRACEFUL_RESTART, restarting: !!rs?.restarting, notification: true, restartTime: cfg.gracefulRestartTime, families });
  }
  const mode = cfg.addPath;
  if (mode !== 0 && cfg.families.length > 0) {
    caps.push({ code: CapabilityCode.ADD_PATH, families: cfg.families.map((f) => ({ afi: familyToAfi(f), safi: SAFI.UNICAST, mode })) });
  }
  return { type: "open", version: BGP_VERSION, myAs: twoByteAs(cfg.asNumber), holdTime: cfg.holdTime, routerId: cfg.routerId, capabilities: caps };
}

export interface OpenExpectations {
  peerAs: number;
  localAs: number;
  localRouterId: string;
  /** The identifier the peer must present (its Node resource's); absent: any valid one. */
  expectedRouterId?: string;
}

/** RFC 4271 §6.2 checks; returns the error to send, or undefined when the OPEN is acceptable. */
export function validateOpen(open: OpenMessage, exp: OpenExpectations): BgpProtocolError | undefined {
  if (open.version !== BGP_VERSION) {
    return new BgpProtocolError(
      `unsupported version ${open.version}`,
      ErrorCode.OPEN_MESSAGE,
      OpenSubcode.UNSUPPORTED_VERSION,
      "session-reset",
      Uint8Array.of(0, BGP_VERSION),
    );
  }
  const asn = openAsNumber(open);
  if (asn !== exp.peerAs) {
    return new BgpProtocolError(`peer AS ${asn}, expected ${exp.peerAs}`, ErrorCode.OPEN_MESSAGE, OpenSubcode.BAD_PEER_AS);
  }
  if (open.holdTime === 1 || open.holdTime === 2) {
    return new BgpProtocolError(`hold time ${open.holdTime}`, ErrorCode.OPEN_MESSAGE, OpenSubcode.UNACCEPTABLE_HOLD_TIME);
  }
  const id = dottedToU32(open.routerId);
  // RFC 6286: any non-zero identifier; within an AS it must differ from ours
  if (id === 0 || (exp.peerAs === exp.localAs && id === dottedToU32(exp.localRouterId))) {
    return new BgpProtocolError(`bad BGP identifier ${open.routerId}`, ErrorCode.OPEN_MESSAGE, OpenSubcode.BAD_BGP_IDENTIFIER);
  }
  // the peer proves it is the node configured at this address: the AS above, the identifier here
  if (exp.expectedRouterId !== undefined && id !== dottedToU32(exp.expectedRouterId)) {
    return new BgpProtocolError(`BGP identifier ${open.routerId}, expected ${exp.expectedRouterId}`, ErrorCode.OPEN_MESSAGE, OpenSubcode.BAD_BGP_IDENTIFIER);
  }
  return undefined;
}

export interface Negotiated {
  peerAs: number;
  peerRouterId: string;
  /** Negotiated hold time in seconds (0 = no keepalives). */
  holdTime: number;
  keepaliveTime: number;
  as4: boolean;
  families: AddressFamily[];
  routeRefresh: boolean;
  /** Both sides advertised enhanced route refresh (RFC 7313): refreshes are framed by BoRR/EoRR. */
  enhancedRouteRefresh: boolean;
  /** Options for decoding what the peer sends. */
  rx: CodecOptions;
  /** Options for encoding what we send. */
  tx: CodecOptions;
  /** The peer's graceful restart capability (RFC 4724), if any: families whose forwarding state it keeps. */
  gracefulRestart: { restartTime: number; restarting: boolean; families: Map<AddressFamily, boolean> } | undefined;
  /** Both OPENs carried graceful restart with the N bit (RFC 8538). */
  grNotification: boolean;
}

function mpFamilies(open: OpenMessage): Set<AddressFamily> | undefined {
  const mps = open.capabilities.filter((c): c is { code: 1; afi: number; safi: number } => c.code === CapabilityCode.MULTIPROTOCOL && "afi" in c);
  if (mps.length === 0) return undefined;
  const out = new Set<AddressFamily>();
  for (const c of mps) {
    const f = afiToFamily(c.afi, c.safi);
    if (f) out.add(f);
  }
  return out;
}

function addPathModes(open: OpenMessage): Map<AddressFamily, number> {
  const out = new Map<AddressFamily, number>();
  for (const c of open.capabilities) {
    if (c.code !== CapabilityCode.ADD_PATH || !("families" in c)) continue;
    for (const f of c.families as { afi: number; safi: number; mode: number }[]) {
      const fam = afiToFamily(f.afi, f.safi);
      if (fam) out.set(fam, f.mode);
    }
  }
  return out;
}

function nBit(open: OpenMessage): boolean {
  return open.capabilities.some((c) => c.code === CapabilityCode.GRACEFUL_RESTART && "notification" in c && c.notification);
}

function grOf(open: OpenMessage): Negotiated["gracefulRestart"] {
  const c = open.capabilities.find((x) => x.code === CapabilityCode.GRACEFUL_RESTART);
  if (!c || !("restartTime" in c)) return undefined;
  const families = new Map<AddressFamily, boolean>();
  for (const f of c.families) {
    const fam = afiToFamily(f.afi, f.safi);
    if (fam) families.set(fam, f.forwarding);
  }
  return { restartTime: c.restartTime, restarting: c.restarting, families };
}

export function negotiate(local: OpenMessage, remote: OpenMessage): Negotiated {
  const holdTime = Math.min(local.holdTime, remote.holdTime);
  const has = (o: OpenMessage, code: number) => o.capabilities.some((c) => c.code === code);
  const as4 = has(local, CapabilityCode.FOUR_OCTET_AS) && has(remote, CapabilityCode.FOUR_OCTET_AS);
  // RFC 4760 §8: without MP capabilities a speaker carries IPv4 unicast only
  const lf = mpFamilies(local) ?? new Set<AddressFamily>(["ipv4"]);
  const rf = mpFamilies(remote) ?? new Set<AddressFamily>(["ipv4"]);
  const families = [...lf].filter((f) => rf.has(f));
  const lap = addPathModes(local);
  const rap = addPathModes(remote);
  const flag = (mine: number | undefined, theirs: number | undefined, myBit: number, theirBit: number) =>
    mine !== undefined && theirs !== undefined && (mine & myBit) !== 0 && (theirs & theirBit) !== 0;
  const rxAp = { ipv4: flag(lap.get("ipv4"), rap.get("ipv4"), 1, 2), ipv6: flag(lap.get("ipv6"), rap.get("ipv6"), 1, 2) };
  const txAp = { ipv4: flag(lap.get("ipv4"), rap.get("ipv4"), 2, 1), ipv6: flag(lap.get("ipv6"), rap.get("ipv6"), 2, 1) };
  return {
    peerAs: openAsNumber(remote),
    peerRouterId: remote.routerId,
    holdTime,
    keepaliveTime: holdTime === 0 ? 0 : Math.max(1, Math.floor(holdTime / 3)),
    as4,
    families,
    routeRefresh: has(remote, CapabilityCode.ROUTE_REFRESH) || has(remote, CapabilityCode.CISCO_ROUTE_REFRESH),
    enhancedRouteRefresh: has(local, CapabilityCode.ENHANCED_ROUTE_REFRESH) && has(remote, CapabilityCode.ENHANCED_ROUTE_REFRESH),
    rx: { as4, addPath: rxAp },
    tx: { as4, addPath: txAp },
    gracefulRestart: grOf(remote),
    grNotification: nBit(local) && nBit(remote),
  };
}
