/**
 * rtnetlink notifications of links and addresses (rtnetlink(7); Linux uapi linux/rtnetlink.h):
 * the multicast groups the agent joins (RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR,
 * i.e. RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR) and which of the messages read
 * from them say that a link or an address changed (RTM_NEWLINK/DELLINK, RTM_NEWADDR/DELADDR),
 * and which links are new or were made again under a name.
 * Felix's route table manager listens to the same updates. Pure: bytes in, a summary out.
 */
import { decodeLink, decodeReplies, type Reply } from "./codec.js";
import { NLMSG_NOOP, NLM_F_REQUEST, RTM_DELADDR, RTM_DELLINK, RTM_NEWADDR, RTM_NEWLINK } from "./constants.js";

/** Group numbers for NETLINK_ADD_MEMBERSHIP (not the RTMGRP_* bit masks of bind(2)). */
export const RTNLGRP_LINK = 1;
export const RTNLGRP_IPV4_IFADDR = 5;
export const RTNLGRP_IPV6_IFADDR = 9;
export const LINK_ADDR_GROUPS = [RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR] as const;

/**
 * An NLMSG_NOOP request: sending it binds the socket to a port id (autobind), which a socket
 * must have before its group memberships receive anything. The kernel answers nothing (no ACK flag).
 */
export function noopRequest(seq: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt32LE(16, 0);
  b.writeUInt16LE(NLMSG_NOOP, 4);
  b.writeUInt16LE(NLM_F_REQUEST, 6);
  b.writeUInt32LE(seq, 8);
  return b;
}

/** What one datagram of notifications says. */
export interface LinkAddrChanges {
  links: number;
  addresses: number;
  /** The links of the RTM_NEWLINKs, by name and index, in order (a name once, its last index). */
  newLinks: { name: string; index: number }[];
  /** RTM_NEWLINKs whose name could not be read (then any link may be new). */
  unnamedLinks: number;
}

/**
 * Counts the link and address notifications in one datagram; other messages are not counted.
 * A malformed datagram throws DP_NETLINK_DECODE (codec.ts's decodeReplies).
 */
export function linkAddrChanges(buf: Buffer): LinkAddrChanges {
  const out: LinkAddrChanges = { links: 0, addresses: 0, newLinks: [], unnamedLinks: 0 };
  for (const m of decodeReplies(buf)) {
    if (m.type === RTM_NEWLINK) {
      out.links++;
      const link = namedLink(m);
      if (!link) out.unnamedLinks++;
      else {
        const had = out.newLinks.findIndex((l) => l.name === link.name);
        if (had >= 0) out.newLinks.splice(had, 1);
        out.newLinks.push(link);
      }
    } else if (m.type === RTM_DELLINK) out.links++;
    else if (m.type === RTM_NEWADDR || m.type === RTM_DELADDR) out.addresses++;
  }
  return out;
}

/** A link message's IFLA_IFNAME and index; undefined when the message is too short or has no name. */
function namedLink(m: Reply): { name: string; index: number } | undefined {
  try {
    const l = decodeLink(m);
    return l.name ? { name: l.name, index: l.index } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Of the links heard, the names that are new or were made again (another index than the one
 * last heard under that name): what needs its per-interface settings again. A link going up or
 * down, or changing a flag, also sends RTM_NEWLINK, with its index unchanged: not counted.
 * `known` (name → index) is updated. Pure but for that map.
 */
export function recreatedLinks(known: Map<string, number>, links: readonly { name: string; index: number }[]): string[] {
  const out: string[] = [];
  for (const { name, index } of links) {
    if (known.get(name) === index) continue;
    known.set(name, index);
    if (!out.includes(name)) out.push(name);
  }
  return out;
}
