/**
 * One BGP peer's configuration as the speaker takes it: address and AS (RFC 4271), timers,
 * policies (policy.ts), TCP-MD5 (RFC 2385), GTSM (RFC 5082), ADD-PATH (RFC 7911), graceful
 * restart (RFC 4724), BFD (RFC 5880), and the Calico BGPPeer options the agent maps onto them.
 * Types only.
 */
import type { PolicyTermConfig } from "./policy.js";
import type { AddressFamily } from "./wire/constants.js";

export interface PeerConfig {
  address: string;
  asNumber: number;
  port?: number;
  passive?: boolean;
  localAddress?: string;
  localIPv6?: string;
  families?: AddressFamily[];
  holdTime?: number;
  connectRetry?: number;
  routeReflectorClient?: boolean;
  /**
   * Import and export policy (policy.ts): terms, first match wins. Absent: accept everything.
   * Present: no match means reject on eBGP (RFC 8212) and accept on iBGP.
   */
  import?: PolicyTermConfig[];
  /** TCP-MD5 (RFC 2385) password, Linux only. */
  password?: string;
  export?: PolicyTermConfig[];
  /** ADD-PATH send (RFC 7911): advertise the whole ECMP set to peers that receive; default true. Receive is always on. */
  addPath?: boolean;
  /** Graceful restart time we advertise (RFC 4724, seconds, at most 4095); default 120. */
  gracefulRestartTime?: number;
  /**
   * Next hop of routes sent to this peer: `true` always our session address (Calico BGPPeer
   * `nextHopMode: Self`), `false` always the path's own next hop, on eBGP too (`nextHopMode:
   * Keep`, `keepOriginalNextHop`); absent: the RFC 4271 rules (kept on iBGP, ours on eBGP).
   * An export policy term's `set.nextHop` still wins.
   */
  nextHopSelf?: boolean;
  /**
   * Keepalive interval (seconds); default a third of the hold time (RFC 4271 §10). Calico
   * BGPPeer `keepaliveTime`.
   */
  keepaliveTime?: number;
  /**
   * GTSM (RFC 5082, Calico BGPPeer `ttlSecurity`): the peer is at most this many hops away. We
   * send with TTL 255 and refuse packets whose TTL is below 256 - hops. 0 or absent: off.
   */
  ttlSecurity?: number;
  /**
   * The BGP identifier the peer must present in its OPEN (from its Node resource); a mismatch is
   * refused with OPEN error Bad BGP Identifier. Absent: any identifier (RFC 4271 rules only).
   */
  expectedRouterId?: string;
  /**
   * How many times our own AS may appear in a received AS_PATH before the route is a loop
   * (Calico BGPPeer `numAllowedLocalASNumbers`, BIRD `allow local as`); default 0.
   */
  allowOwnAs?: number;
  /**
   * Maximum paths accepted from the peer (after import policy, all families together); past it the
   * speaker resets the session with Cease 6/1 (RFC 4486) and tries again a minute later.
   */
  maxPrefixes?: number;
  /**
   * BFD (RFC 5880/5881, multihop RFC 5883) to this peer address, run by the speaker's failure
   * detector: intervals in milliseconds. When it goes Down after having been Up, the session is
   * reset at once with Cease/10 "BFD Down" (RFC 9384), sent as a Hard Reset (routes flushed).
   */
  bfd?: {
    minRx: number;
    minTx: number;
    multiplier: number;
    multihop?: boolean;
    /** RFC 5880 §6.7 authentication: the key is 1-16 bytes (simple, MD5) or 1-20 (SHA1). */
    auth?: { type: "simple" | "keyed-md5" | "meticulous-keyed-md5" | "keyed-sha1" | "meticulous-keyed-sha1"; keyId: number; key: string };
  };
}
