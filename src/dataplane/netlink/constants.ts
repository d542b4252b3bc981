/**
 * The rtnetlink numbers tabby speaks, in one place (Linux uapi linux/netlink.h, linux/rtnetlink.h,
 * linux/if_addr.h; socket(2) and netlink(7) for the socket-level ones): message types, header
 * flags, address families, the route and address attributes, tables, route types, scopes and
 * protocols. The codecs (codec.ts, route-codec.ts, link-events.ts) and the sockets (socket.ts,
 * link-monitor.ts) take them from here. Pure: numbers only.
 */

// message types
export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;
export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
export const RTM_GETROUTE = 26;

// header flags
export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
/** On a dump's messages: the table changed while it was dumped; dump again for a consistent view. */
export const NLM_F_DUMP_INTR = 0x10;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
/** NLM_F_ROOT | NLM_F_MATCH: every object of the kind. */
export const NLM_F_DUMP = 0x300;

// address families
export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const AF_NETLINK = 16;

// address and route attributes
export const IFA_ADDRESS = 1;
export const IFA_LOCAL = 2;
export const RTA_DST = 1;
export const RTA_OIF = 4;
export const RTA_GATEWAY = 5;
export const RTA_PRIORITY = 6;
export const RTA_MULTIPATH = 9;
export const RTA_TABLE = 15;

// tables, route types, scopes, protocols
export const RT_TABLE_MAIN = 254;
export const RTN_UNICAST = 1;
export const RTN_BLACKHOLE = 6;
export const RT_SCOPE_UNIVERSE = 0;
export const RT_SCOPE_LINK = 253;
/** A delete's scope: any. */
export const RT_SCOPE_NOWHERE = 255;
/** The protocol of routes the kernel makes itself (an address's network). */
export const RTPROT_KERNEL = 2;
/** The protocol `ip route` gives a route by default. */
export const RTPROT_BOOT = 3;

// the socket
export const SOCK_RAW = 3;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const NETLINK_ROUTE = 0;
export const SOL_NETLINK = 270;
export const NETLINK_ADD_MEMBERSHIP = 1;
export const NETLINK_CAP_ACK = 10;
export const NETLINK_EXT_ACK = 11;
