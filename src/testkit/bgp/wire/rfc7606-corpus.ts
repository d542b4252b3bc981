/**
 * Test data: a corpus of malformed (and a few tricky but valid) UPDATE messages, one per case of
 * RFC 7606 §3–§7 and the RFCs it revises (4271, 4456, 4760, 6793, 8092), each with the RFC 7606
 * action a receiver must take and, where one is sent, the UPDATE error subcode (RFC 4271 §6.3).
 * Shared by the decoder's test and the live-speaker test. Pure data, built by hand.
 */
import type { ErrorAction } from "../../../bgp/errors.js";
import type { CodecOptions } from "../../../bgp/wire/attributes.js";

export interface MalformedCase {
  section: string;
  name: string;
  bytes: Uint8Array;
  action: ErrorAction | "none";
  /** UPDATE Message Error subcode of the NOTIFICATION (session-reset) or the logged error. */
  subcode?: number;
  /** For attribute-discard: the decoded attribute that must be absent afterwards. */
  discarded?: string;
  codec?: CodecOptions;
}

export const CODEC_AS4: CodecOptions = { as4: true, addPath: { ipv4: false, ipv6: false } };
const CODEC_AS2: CodecOptions = { as4: false, addPath: { ipv4: false, ipv6: false } };

const MARKER = Array<number>(16).fill(0xff);
const NLRI = [24, 10, 0, 0];

/** Attribute bytes: flags, type, one-byte length, value. */
function attr(flags: number, type: number, value: number[]): number[] {
  return [flags, type, value.length, ...value];
}

const ORIGIN = attr(0x40, 1, [0]);
const AS_PATH = attr(0x40, 2, [2, 1, 0, 0, 0xfd, 0xe9]); // AS_SEQUENCE [65001] (4-byte)
const NEXT_HOP = attr(0x40, 3, [10, 0, 0, 1]);
const BASE = [...ORIGIN, ...AS_PATH, ...NEXT_HOP];

/** An UPDATE with the given withdrawn routes, attribute bytes and NLRI. */
export function updateBytes(attrs: number[], nlri: number[] = NLRI, withdrawn: number[] = []): Uint8Array {
  const body = [withdrawn.length >> 8, withdrawn.length & 0xff, ...withdrawn, attrs.length >> 8, attrs.length & 0xff, ...attrs, ...nlri];
  const len = 19 + body.length;
  return Uint8Array.from([...MARKER, len >> 8, len & 0xff, 2, ...body]);
}

/** BASE with the attribute of the given type replaced (or added when BASE lacks it). */
function withAttr(type: number, bytes: number[]): number[] {
  const parts = [ORIGIN, AS_PATH, NEXT_HOP].filter((a) => a[1] !== type);
  return [...parts.flat(), ...bytes];
}

const IPV6_NH = [0xfd, 0, ...Array<number>(13).fill(0), 1];
function mpReach(afi: number, nh: number[], nlri: number[]): number[] {
  const v = [0, afi, 1, nh.length, ...nh, 0, ...nlri];
  return attr(0x80, 14, v);
}

const C = (
  section: string,
  name: string,
  attrs: number[],
  action: MalformedCase["action"],
  subcode?: number,
  extra: Partial<MalformedCase> = {},
  nlri: number[] = NLRI,
): MalformedCase => {
  const c: MalformedCase = { section, name, bytes: updateBytes(attrs, nlri), action, ...extra };
  if (subcode !== undefined) c.subcode = subcode;
  return c;
};

export const MALFORMED_UPDATES: readonly MalformedCase[] = [
  // §7.1 ORIGIN
  C("§7.1", "ORIGIN of 2 bytes", withAttr(1, attr(0x40, 1, [0, 0])), "treat-as-withdraw", 5),
  C("§7.1", "ORIGIN value 3", withAttr(1, attr(0x40, 1, [3])), "treat-as-withdraw", 6),
  // §7.2 AS_PATH
  C("§7.2", "AS_PATH segment type 5", withAttr(2, attr(0x40, 2, [5, 1, 0, 0, 0xfd, 0xe9])), "treat-as-withdraw", 11),
  C("§7.2", "AS_PATH segment of zero ASes", withAttr(2, attr(0x40, 2, [2, 0])), "treat-as-withdraw", 11),
  C("§7.2", "AS_PATH segment overruns the attribute", withAttr(2, attr(0x40, 2, [2, 2, 0, 0, 0xfd, 0xe9])), "treat-as-withdraw", 11),
  C("§7.2", "AS_PATH with a truncated segment header", withAttr(2, attr(0x40, 2, [2, 1, 0, 0, 0xfd, 0xe9, 2])), "treat-as-withdraw", 11),
  // §7.3 NEXT_HOP
  C("§7.3", "NEXT_HOP of 5 bytes", withAttr(3, attr(0x40, 3, [10, 0, 0, 1, 0])), "treat-as-withdraw", 5),
  C("§7.3", "NEXT_HOP 0.0.0.0", withAttr(3, attr(0x40, 3, [0, 0, 0, 0])), "treat-as-withdraw", 8),
  C("§7.3", "NEXT_HOP multicast 224.0.0.1", withAttr(3, attr(0x40, 3, [224, 0, 0, 1])), "treat-as-withdraw", 8),
  // §7.4 MULTI_EXIT_DISC
  C("§7.4", "MULTI_EXIT_DISC of 3 bytes", [...BASE, ...attr(0x80, 4, [0, 0, 1])], "treat-as-withdraw", 5),
  // §7.5 LOCAL_PREF
  C("§7.5", "LOCAL_PREF of 2 bytes", [...BASE, ...attr(0x40, 5, [0, 100])], "treat-as-withdraw", 5),
  // §7.6 ATOMIC_AGGREGATE
  C("§7.6", "ATOMIC_AGGREGATE of 1 byte", [...BASE, ...attr(0x40, 6, [1])], "attribute-discard", 5, { discarded: "atomicAggregate" }),
  // §7.7 AGGREGATOR
  C("§7.7", "AGGREGATOR of 7 bytes on a 4-byte-AS session", [...BASE, ...attr(0xc0, 7, [0, 0, 0xfd, 0xe9, 10, 0, 0])], "attribute-discard", 5, {
    discarded: "aggregator",
  }),
  // §7.8 COMMUNITIES
  C("§7.8", "COMMUNITIES of 3 bytes", [...BASE, ...attr(0xc0, 8, [0, 1, 2])], "treat-as-withdraw", 5),
  C("§7.8", "COMMUNITIES of 0 bytes", [...BASE, ...attr(0xc0, 8, [])], "treat-as-withdraw", 5),
  // §7.9 ORIGINATOR_ID, §7.10 CLUSTER_LIST
  C("§7.9", "ORIGINATOR_ID of 3 bytes", [...BASE, ...attr(0x80, 9, [1, 2, 3])], "treat-as-withdraw", 5),
  C("§7.10", "CLUSTER_LIST of 6 bytes", [...BASE, ...attr(0x80, 10, [1, 2, 3, 4, 5, 6])], "treat-as-withdraw", 5),
  // §7.11 MP_REACH_NLRI, §7.12 MP_UNREACH_NLRI: the NLRI cannot be trusted, so the session resets
  C(
    "§7.11",
    "MP_REACH_NLRI IPv6 next hop of 5 bytes",
    [...ORIGIN, ...AS_PATH, ...mpReach(2, [1, 2, 3, 4, 5], [64, 0xfd, 0, 0, 0, 0, 0, 0, 0])],
    "session-reset",
    9,
    {},
    [],
  ),
  C("§7.11", "MP_REACH_NLRI shorter than its header", [...ORIGIN, ...AS_PATH, ...attr(0x80, 14, [0, 2, 1, 16])], "session-reset", 9, {}, []),
  C(
    "§7.11",
    "MP_REACH_NLRI IPv6 prefix length 129",
    [...ORIGIN, ...AS_PATH, ...mpReach(2, IPV6_NH, [129, ...Array<number>(17).fill(0)])],
    "session-reset",
    undefined,
    {},
    [],
  ),
  C("§7.11", "MP_REACH_NLRI next hop overruns the attribute", [...ORIGIN, ...AS_PATH, ...attr(0x80, 14, [0, 2, 1, 32, 0xfd, 0])], "session-reset", 9, {}, []),
  C("§7.12", "MP_UNREACH_NLRI of 2 bytes", [...attr(0x80, 15, [0, 2])], "session-reset", 9, {}, []),
  C("§7.12", "MP_UNREACH_NLRI with a truncated prefix", [...attr(0x80, 15, [0, 2, 1, 64, 0xfd, 0])], "session-reset", undefined, {}, []),
  // §7.14, §7.15 extended communities
  C("§7.14", "EXTENDED_COMMUNITIES of 7 bytes", [...BASE, ...attr(0xc0, 16, [0, 2, 0xfd, 0xe8, 0, 0, 7])], "treat-as-withdraw", 9),
  C("§7.14", "EXTENDED_COMMUNITIES of 8 bytes", [...BASE, ...attr(0xc0, 16, [0, 2, 0xfd, 0xe8, 0, 0, 0, 7])], "none"),
  C("§7.15", "IPv6 address-specific extended community of 19 bytes", [...BASE, ...attr(0xc0, 25, Array<number>(19).fill(1))], "treat-as-withdraw", 9),
  // RFC 8092 §6 LARGE_COMMUNITY
  C("RFC 8092 §6", "LARGE_COMMUNITY of 11 bytes", [...BASE, ...attr(0xc0, 32, Array<number>(11).fill(1))], "treat-as-withdraw", 5),
  // RFC 6793 §6 (as RFC 7606 §7.2 leaves it): AS4_PATH and AS4_AGGREGATOR errors discard the attribute
  C(
    "RFC 6793 §6",
    "AS4_PATH with segment type 9 from a 2-byte speaker",
    [...ORIGIN, ...attr(0x40, 2, [2, 1, 0x5b, 0xa0]), ...NEXT_HOP, ...attr(0xc0, 17, [9, 1, 0, 1, 0, 0])],
    "attribute-discard",
    5,
    { codec: CODEC_AS2 },
  ),
  C(
    "RFC 6793 §6",
    "AS4_AGGREGATOR of 7 bytes",
    [...ORIGIN, ...attr(0x40, 2, [2, 1, 0x5b, 0xa0]), ...NEXT_HOP, ...attr(0xc0, 18, [0, 1, 0, 0, 10, 0, 0])],
    "attribute-discard",
    5,
    { codec: CODEC_AS2 },
  ),
  // §3.c attribute flags
  C("§3.c", "ORIGIN flagged optional", withAttr(1, attr(0xc0, 1, [0])), "treat-as-withdraw", 4),
  C("§3.c", "COMMUNITIES flagged non-transitive", [...BASE, ...attr(0x80, 8, [0, 1, 0, 2])], "treat-as-withdraw", 4),
  // §3.d missing well-known mandatory attributes
  C("§3.d", "no NEXT_HOP with IPv4 NLRI", [...ORIGIN, ...AS_PATH], "treat-as-withdraw", 3),
  C("§3.d", "no ORIGIN", [...AS_PATH, ...NEXT_HOP], "treat-as-withdraw", 3),
  C("§3.d", "no attributes at all with IPv4 NLRI", [], "treat-as-withdraw", 3),
  // §3.g duplicates
  C("§3.g", "ORIGIN twice: the first is kept", [...BASE, ...attr(0x40, 1, [2])], "attribute-discard", 1),
  C("§3.g", "MP_REACH_NLRI twice", [...ORIGIN, ...AS_PATH, ...mpReach(2, IPV6_NH, []), ...mpReach(2, IPV6_NH, [])], "session-reset", 1, {}, []),
  // §4 / RFC 4271 §6.3 lengths
  C("§4", "attribute length overruns the attribute field", [...ORIGIN, ...AS_PATH, 0x40, 3, 9, 10, 0, 0, 1], "session-reset", 1),
  C("§4", "attribute header truncated", [...BASE, 0x40], "session-reset", 1),
  {
    section: "§4",
    name: "total path attribute length overruns the message",
    bytes: Uint8Array.from([...MARKER, 0, 27, 2, 0, 0, 0, 40, ...ORIGIN]),
    action: "session-reset",
    subcode: 1,
  },
  // §5.3 / RFC 4271 NLRI
  C("§5.3", "IPv4 NLRI prefix length 33", BASE, "session-reset", 10, {}, [33, 10, 0, 0, 0, 1]),
  C("§5.3", "IPv4 NLRI truncated", BASE, "session-reset", 10, {}, [24, 10, 0]),
  { section: "§5.3", name: "withdrawn prefix truncated", bytes: updateBytes([], [], [24, 10]), action: "session-reset", subcode: 10 },
  // RFC 4271 §6.3 unknown attributes
  C("RFC 4271 §6.3", "unrecognised well-known attribute 99", [...BASE, ...attr(0x40, 99, [1])], "session-reset", 2),
  C("RFC 4271 §6.3", "unknown optional transitive attribute passes on", [...BASE, ...attr(0xc0, 99, [1])], "none"),
  C("RFC 4271 §6.3", "unknown optional non-transitive attribute is dropped", [...BASE, ...attr(0x80, 99, [1])], "none"),
];
