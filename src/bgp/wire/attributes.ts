/**
 * Path attributes (RFC 4271 §4.3/§5) as a registry: one codec entry per attribute type, each with
 * its flags, its RFC 7606 action on malformation, a decoder and an encoder (BIRD's
 * `bgp_attr_table[]`). Covers ORIGIN, AS_PATH (2- or 4-byte ASNs per session, AS4_PATH/AS4_AGGREGATOR
 * of RFC 6793), NEXT_HOP, MED, LOCAL_PREF, ATOMIC_AGGREGATE, AGGREGATOR, COMMUNITIES (RFC 1997),
 * ORIGINATOR_ID/CLUSTER_LIST (RFC 4456), MP_REACH/MP_UNREACH (RFC 4760, RFC 2545 IPv6 next hops),
 * LARGE_COMMUNITY (RFC 8092). Unknown optional transitive attributes pass through with the
 * partial bit set. Pure.
 */
import { IP } from "../../net/ip.js";
import { BgpProtocolError, type ErrorAction } from "../errors.js";
import { ByteReader, ByteWriter, dottedToU32, u32ToDotted } from "./bytes.js";
import { AS_TRANS, AsPathSegmentType, AttrFlag, AttrType, ErrorCode, UpdateSubcode, afiToFamily, familyToAfi, SAFI, type AddressFamily } from "./constants.js";
import { decodeNlri, encodeNlriTo, type Nlri } from "./nlri.js";

/** What the session negotiated, for one direction (decode: what we receive; encode: what we send). */
export interface CodecOptions {
  /** Both sides sent the 4-octet AS capability: AS numbers are 4 bytes. */
  as4: boolean;
  /** ADD-PATH path identifiers present, per family. */
  addPath: Record<AddressFamily, boolean>;
}

export const DEFAULT_CODEC_OPTIONS: CodecOptions = { as4: true, addPath: { ipv4: false, ipv6: false } };

export interface AsPathSegment {
  type: number;
  asns: number[];
}

export interface MpReach {
  family: AddressFamily;
  nextHop: IP;
  /** RFC 2545: the link-local half of a 32-byte IPv6 next hop. */
  linkLocal?: IP;
  nlri: Nlri[];
}

export interface MpUnreach {
  family: AddressFamily;
  withdrawn: Nlri[];
}

export interface RawAttribute {
  flags: number;
  type: number;
  data: Uint8Array;
}

export interface PathAttributes {
  origin?: number;
  asPath?: AsPathSegment[];
  nextHop?: IP;
  med?: number;
  localPref?: number;
  atomicAggregate?: boolean;
  aggregator?: { asNumber: number; address: IP };
  communities?: number[];
  originatorId?: string;
  clusterList?: string[];
  mpReach?: MpReach;
  mpUnreach?: MpUnreach;
  largeCommunities?: [number, number, number][];
  /** Only while decoding from a 2-byte-AS peer; merged into asPath by decodeAttributes. */
  as4Path?: AsPathSegment[];
  as4Aggregator?: { asNumber: number; address: IP };
  /** Unrecognised optional transitive attributes, re-advertised with the partial bit. */
  unknown?: RawAttribute[];
}

interface AttrCodec {
  name: string;
  /** Flags sent (without EXTENDED_LENGTH, which is added for long values). */
  flags: number;
  /** RFC 7606 action when the attribute is malformed. */
  onError: ErrorAction;
  /** NOTIFICATION subcode for a malformed value (default Attribute Length Error). */
  subcode?: number;
  decode(r: ByteReader, len: number, ctx: CodecOptions, into: PathAttributes): void;
  /** Writes the value; returns false when the attribute is absent. */
  encode(a: PathAttributes, ctx: CodecOptions, w: ByteWriter): boolean;
}

const WK = AttrFlag.TRANSITIVE;
const OPT = AttrFlag.OPTIONAL;
const OPT_T = AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE;

function exactLen(name: string, len: number, want: number, fail: (m: string) => BgpProtocolError): void {
  if (len !== want) throw fail(`${name} has length ${len}, want ${want}`);
}

function readIPv4(r: ByteReader): IP {
  return new IP(r.bytes(4).slice());
}

function decodeSegments(r: ByteReader, len: number, width: 2 | 4, fail: (m: string) => BgpProtocolError): AsPathSegment[] {
  const end = r.pos + len;
  const segs: AsPathSegment[] = [];
  while (r.pos < end) {
    if (end - r.pos < 2) throw fail("AS_PATH segment header truncated");
    const type = r.u8();
    const count = r.u8();
    if (type < 1 || type > 4) throw fail(`AS_PATH segment type ${type}`);
    if (count === 0) throw fail("AS_PATH segment with no AS");
    if (r.pos + count * width > end) throw fail("AS_PATH segment overruns the attribute");
    const asns: number[] = [];
    for (let i = 0; i < count; i++) asns.push(width === 4 ? r.u32() : r.u16());
    segs.push({ type, asns });
  }
  return segs;
}

function encodeSegments(w: ByteWriter, segs: AsPathSegment[], width: 2 | 4): void {
  for (const s of segs) {
    // a segment holds at most 255 ASes; split longer ones
    for (let i = 0; i < s.asns.length; i += 255) {
      const part = s.asns.slice(i, i + 255);
      w.u8(s.type).u8(part.length);
      for (const a of part) {
        if (width === 4) w.u32(a);
        else w.u16(a > 0xffff ? AS_TRANS : a);
      }
    }
  }
}

function needsAs4(segs: AsPathSegment[] | undefined): boolean {
  return !!segs && segs.some((s) => s.asns.some((a) => a > 0xffff));
}

function u32List(_r: ByteReader, len: number, unit: number, name: string, fail: (m: string) => BgpProtocolError): void {
  if (len === 0 || len % unit !== 0) throw fail(`${name} length ${len} is not a multiple of ${unit}`);
}

/** The registry. Keys are attribute type codes. */
export const ATTRIBUTE_CODECS: ReadonlyMap<number, AttrCodec> = new Map<number, AttrCodec>([
  [
    AttrType.ORIGIN,
    {
      name: "ORIGIN",
      flags: WK,
      onError: "treat-as-withdraw",
      decode(r, len, _ctx, into) {
        exactLen("ORIGIN", len, 1, attrLenError(this));
        const v = r.u8();
        if (v > 2) throw new BgpProtocolError(`ORIGIN value ${v}`, ErrorCode.UPDATE_MESSAGE, UpdateSubcode.INVALID_ORIGIN, "treat-as-withdraw");
        into.origin = v;
      },
      encode(a, _ctx, w) {
        if (a.origin === undefined) return false;
        w.u8(a.origin);
        return true;
      },
    },
  ],
  [
    AttrType.AS_PATH,
    {
      name: "AS_PATH",
      flags: WK,
      onError: "treat-as-withdraw",
      subcode: UpdateSubcode.MALFORMED_AS_PATH,
      decode(r, len, ctx, into) {
        into.asPath = decodeSegments(r, len, ctx.as4 ? 4 : 2, attrLenError(this));
      },
      encode(a, ctx, w) {
        if (!a.asPath) return false;
        encodeSegments(w, a.asPath, ctx.as4 ? 4 : 2);
        return true;
      },
    },
  ],
  [
    AttrType.NEXT_HOP,
    {
      name: "NEXT_HOP",
      flags: WK,
      onError: "treat-as-withdraw",
      subcode: UpdateSubcode.INVALID_NEXT_HOP,
      decode(r, len, _ctx, into) {
        exactLen("NEXT_HOP", len, 4, attrLenError(this, UpdateSubcode.ATTRIBUTE_LENGTH_ERROR));
        const ip = readIPv4(r);
        const b0 = ip.bytes[0]!;
        if (ip.toString() === "0.0.0.0" || b0 >= 224) throw attrLenError(this)(`NEXT_HOP ${ip} is not a unicast address`);
        into.nextHop = ip;
      },
      encode(a, _ctx, w) {
        if (a.nextHop?.family !== 4) return false;
        w.bytes(a.nextHop.bytes);
        return true;
      },
    },
  ],
  [
    AttrType.MULTI_EXIT_DISC,
    {
      name: "MULTI_EXIT_DISC",
      flags: OPT,
      onError: "treat-as-withdraw",
      decode(r, len, _ctx, into) {
        exactLen("MULTI_EXIT_DISC", len, 4, attrLenError(this));
        into.med = r.u32();
      },
      encode(a, _ctx, w) {
        if (a.med === undefined) return false;
        w.u32(a.med);
        return true;
      },
    },
  ],
  [
    AttrType.LOCAL_PREF,
    {
      name: "LOCAL_PREF",
      flags: WK,
      onError: "treat-as-withdraw",
      decode(r, len, _ctx, into) {
        exactLen("LOCAL_PREF", len, 4, attrLenError(this));
        into.localPref = r.u32();
      },
      encode(a, _ctx, w) {
        if (a.localPref === undefined) return false;
        w.u32(a.localPref);
        return true;
      },
    },
  ],
  [
    AttrType.ATOMIC_AGGREGATE,
    {
      name: "ATOMIC_AGGREGATE",
      flags: WK,
      onError: "attribute-discard",
      decode(_r, len, _ctx, into) {
        exactLen("ATOMIC_AGGREGATE", len, 0, attrLenError(this));
        into.atomicAggregate = true;
      },
      encode(a) {
        return a.atomicAggregate === true;
      },
    },
  ],
  [
    AttrType.AGGREGATOR,
    {
      name: "AGGREGATOR",
      flags: OPT_T,
      onError: "attribute-discard",
      decode(r, len, ctx, into) {
        exactLen("AGGREGATOR", len, ctx.as4 ? 8 : 6, attrLenError(this));
        const asNumber = ctx.as4 ? r.u32() : r.u16();
        into.aggregator = { asNumber, address: readIPv4(r) };
      },
      encode(a, ctx, w) {
        if (!a.aggregator) return false;
        if (ctx.as4) w.u32(a.aggregator.asNumber);
        else w.u16(a.aggregator.asNumber > 0xffff ? AS_TRANS : a.aggregator.asNumber);
        w.bytes(a.aggregator.address.bytes);
        return true;
      },
    },
  ],
  [
    AttrType.COMMUNITIES,
    {
      name: "COMMUNITIES",
      flags: OPT_T,
      onError: "treat-as-withdraw",
      decode(r, len, _ctx, into) {
        u32List(r, len, 4, "COMMUNITIES", attrLenError(this));
        const out: number[] = [];
        for (let i = 0; i < len; i += 4) out.push(r.u32());
        into.communities = out;
      },
      encode(a, _ctx, w) {
        if (!a.communities || a.communities.length === 0) return false;
        for (const c of a.communities) w.u32(c);
        return true;
      },
    },
  ],
  [
    AttrType.ORIGINATOR_ID,
    {
      name: "ORIGINATOR_ID",
      flags: OPT,
      onError: "treat-as-withdraw",
      decode(r, len, _ctx, into) {
        exactLen("ORIGINATOR_ID", len, 4, attrLenError(this));
        into.originatorId = u32ToDotted(r.u32());
      },
      encode(a, _ctx, w) {
        if (a.originatorId === undefined) return false;
        w.u32(dottedToU32(a.originatorId));
        return true;
      },
    },
  ],
  [
    AttrType.CLUSTER_LIST,
    {
      name: "CLUSTER_LIST",
      flags: OPT,
      onError: "treat-as-withdraw",
      decode(r, len, _ctx, into) {
        u32List(r, len, 4, "CLUSTER_LIST", attrLenError(this));
        const out: string[] = [];
        for (let i = 0; i < len; i += 4) out.push(u32ToDotted(r.u32()));
        into.clusterList = out;
      },
      encode(a, _ctx, w) {
        if (!a.clusterList || a.clusterList.length === 0) return false;
        for (const c of a.clusterList) w.u32(dottedToU32(c));
        return true;
      },
    },
  ],
  [
    AttrType.MP_REACH_NLRI,
    {
      name: "MP_REACH_NLRI",
      flags: OPT,
      onError: "session-reset",
      subcode: UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR,
      decode(r, len, ctx, into) {
        const fail = attrLenError(this);
        const end = r.pos + len;
        if (len < 5) throw fail("MP_REACH_NLRI too short");
        const afi = r.u16();
        const safi = r.u8();
        const nhLen = r.u8();
        if (r.pos + nhLen + 1 > end) throw fail("MP_REACH_NLRI next hop overruns the attribute");
        const nh = r.bytes(nhLen);
        r.u8(); // reserved
        const nlriBytes = r.bytes(end - r.pos);
        const family = afiToFamily(afi, safi);
        if (!family) return; // a family we did not negotiate: ignore
        let nextHop: IP;
        let linkLocal: IP | undefined;
        if (family === "ipv4") {
          if (nhLen !== 4) throw fail(`IPv4 MP_REACH next hop of ${nhLen} bytes`);
          nextHop = new IP(nh.slice());
        } else {
          if (nhLen !== 16 && nhLen !== 32) throw fail(`IPv6 MP_REACH next hop of ${nhLen} bytes`);
          nextHop = new IP(nh.slice(0, 16));
          if (nhLen === 32) linkLocal = new IP(nh.slice(16, 32));
        }
        const nlri = decodeNlri(nlriBytes, family, ctx.addPath[family], "session-reset");
        into.mpReach = linkLocal ? { family, nextHop, linkLocal, nlri } : { family, nextHop, nlri };
      },
      encode(a, ctx, w) {
        const m = a.mpReach;
        if (!m) return false;
        w.u16(familyToAfi(m.family)).u8(SAFI.UNICAST);
        const nhLen = m.nextHop.bytes.length + (m.linkLocal ? 16 : 0);
        w.u8(nhLen).bytes(m.nextHop.bytes);
        if (m.linkLocal) w.bytes(m.linkLocal.bytes);
        w.u8(0);
        for (const n of m.nlri) encodeNlriTo(w, n, ctx.addPath[m.family]);
        return true;
      },
    },
  ],
  [
    AttrType.MP_UNREACH_NLRI,
    {
      name: "MP_UNREACH_NLRI",
      flags: OPT,
      onError: "session-reset",
      subcode: UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR,
      decode(r, len, ctx, into) {
        if (len < 3) throw attrLenError(this)("MP_UNREACH_NLRI too short");
        const afi = r.u16();
        const safi = r.u8();
        const rest = r.bytes(len - 3);
        const family = afiToFamily(afi, safi);
        if (!family) return;
        into.mpUnreach = { family, withdrawn: decodeNlri(rest, family, ctx.addPath[family], "session-reset") };
      },
      encode(a, ctx, w) {
        const m = a.mpUnreach;
        if (!m) return false;
        w.u16(familyToAfi(m.family)).u8(SAFI.UNICAST);
        for (const n of m.withdrawn) encodeNlriTo(w, n, ctx.addPath[m.family]);
        return true;
      },
    },
  ],
  [
    AttrType.AS4_PATH,
    {
      name: "AS4_PATH",
      flags: OPT_T,
      onError: "attribute-discard",
      decode(r, len, ctx, into) {
        const segs = decodeSegments(r, len, 4, attrLenError(this));
        // RFC 6793 §4.1: a NEW speaker ignores AS4_PATH from another NEW speaker
        if (!ctx.as4) into.as4Path = segs;
      },
      encode(a, ctx, w) {
        if (ctx.as4 || !needsAs4(a.asPath)) return false;
        const segs = a.asPath!.filter((s) => s.type === AsPathSegmentType.AS_SEQUENCE || s.type === AsPathSegmentType.AS_SET);
        encodeSegments(w, segs, 4);
        return true;
      },
    },
  ],
  [
    AttrType.AS4_AGGREGATOR,
    {
      name: "AS4_AGGREGATOR",
      flags: OPT_T,
      onError: "attribute-discard",
      decode(r, len, ctx, into) {
        exactLen("AS4_AGGREGATOR", len, 8, attrLenError(this));
        const asNumber = r.u32();
        const address = readIPv4(r);
        if (!ctx.as4) into.as4Aggregator = { asNumber, address };
      },
      encode(a, ctx, w) {
        if (ctx.as4 || !a.aggregator || a.aggregator.asNumber <= 0xffff) return false;
        w.u32(a.aggregator.asNumber).bytes(a.aggregator.address.bytes);
        return true;
      },
    },
  ],
  [
    AttrType.LARGE_COMMUNITY,
    {
      name: "LARGE_COMMUNITY",
      flags: OPT_T,
      onError: "treat-as-withdraw",
      decode(r, len, _ctx, into) {
        u32List(r, len, 12, "LARGE_COMMUNITY", attrLenError(this));
        const out: [number, number, number][] = [];
        const seen = new Set<string>();
        for (let i = 0; i < len; i += 12) {
          const c: [number, number, number] = [r.u32(), r.u32(), r.u32()];
          const k = c.join(":");
          if (!seen.has(k)) out.push(c); // RFC 8092 §5: duplicates are removed
          seen.add(k);
        }
        into.largeCommunities = out;
      },
      encode(a, _ctx, w) {
        if (!a.largeCommunities || a.largeCommunities.length === 0) return false;
        for (const [x, y, z] of a.largeCommunities) w.u32(x).u32(y).u32(z);
        return true;
      },
    },
  ],
]);

/**
 * Optional transitive attributes tabby passes through without interpreting, with the size of one
 * element: EXTENDED_COMMUNITIES (RFC 4360, 8 bytes; RFC 7606 §7.14) and IPv6 address-specific
 * extended communities (RFC 5701, 20 bytes; RFC 7606 §7.15). A length that is not a non-zero
 * multiple of the element size is treat-as-withdraw.
 */
const OPAQUE_LIST_UNITS: ReadonlyMap<number, number> = new Map([
  [AttrType.EXTENDED_COMMUNITIES, 8],
  [25, 20],
]);

function attrLenError(codec: { name: string; onError: ErrorAction; subcode?: number }, subcode?: number): (m: string) => BgpProtocolError {
  return (m) =>
    new BgpProtocolError(`${codec.name}: ${m}`, ErrorCode.UPDATE_MESSAGE, subcode ?? codec.subcode ?? UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, codec.onError);
}

export interface DecodedAttributes {
  attrs: PathAttributes;
  /** Non-fatal problems (attribute-discard, treat-as-withdraw). Session-reset problems are thrown. */
  errors: BgpProtocolError[];
}

/** Decodes the path attribute field of an UPDATE (RFC 4271 §4.3, RFC 7606 §3). */
export function decodeAttributes(data: Uint8Array, ctx: CodecOptions): DecodedAttributes {
  const malformedList = (m: string) => new BgpProtocolError(m, ErrorCode.UPDATE_MESSAGE, UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, "session-reset");
  const r = new ByteReader(data, () => malformedList("path attribute overruns the attribute field"));
  const attrs: PathAttributes = {};
  const errors: BgpProtocolError[] = [];
  const seen = new Set<number>();
  while (r.remaining > 0) {
    const flags = r.u8();
    const type = r.u8();
    const len = flags & AttrFlag.EXTENDED_LENGTH ? r.u16() : r.u8();
    if (len > r.remaining) throw malformedList(`attribute ${type} length ${len} overruns the attribute field`);
    const start = r.pos;
    const value = data.subarray(start, start + len);
    r.pos = start + len;
    if (seen.has(type)) {
      // RFC 7606 §3.g: keep the first; a repeated MP_(UN)REACH is fatal
      if (type === AttrType.MP_REACH_NLRI || type === AttrType.MP_UNREACH_NLRI) throw malformedList(`duplicate attribute ${type}`);
      errors.push(
        new BgpProtocolError(`duplicate attribute ${type} discarded`, ErrorCode.UPDATE_MESSAGE, UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, "attribute-discard"),
      );
      continue;
    }
    seen.add(type);
    const codec = ATTRIBUTE_CODECS.get(type);
    const opaqueUnit = OPAQUE_LIST_UNITS.get(type);
    if (opaqueUnit !== undefined) {
      // Recognised but carried opaquely: validated, then passed on without the Partial bit.
      if (len === 0 || len % opaqueUnit !== 0 || (flags & (AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE)) !== OPT_T) {
        const e = new BgpProtocolError(
          `attribute ${type}: length ${len} is not a non-zero multiple of ${opaqueUnit}, or bad flags`,
          ErrorCode.UPDATE_MESSAGE,
          UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR,
          "treat-as-withdraw",
        );
        e.attrType = type;
        errors.push(e);
        continue;
      }
      (attrs.unknown ??= []).push({ flags: flags & ~AttrFlag.EXTENDED_LENGTH & 0xf0, type, data: value.slice() });
      continue;
    }
    if (!codec) {
      if (!(flags & AttrFlag.OPTIONAL)) {
        throw new BgpProtocolError(
          `unrecognised well-known attribute ${type}`,
          ErrorCode.UPDATE_MESSAGE,
          UpdateSubcode.UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
          "session-reset",
          data.slice(start - (flags & AttrFlag.EXTENDED_LENGTH ? 4 : 3), start + len),
        );
      }
      if (flags & AttrFlag.TRANSITIVE) {
        (attrs.unknown ??= []).push({ flags: (flags | AttrFlag.PARTIAL) & ~AttrFlag.EXTENDED_LENGTH & 0xf0, type, data: value.slice() });
      }
      continue;
    }
    try {
      if ((flags & (AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE)) !== codec.flags) {
        throw new BgpProtocolError(
          `${codec.name}: bad flags 0x${flags.toString(16)}`,
          ErrorCode.UPDATE_MESSAGE,
          UpdateSubcode.ATTRIBUTE_FLAGS_ERROR,
          codec.onError,
        );
      }
      const sub = new ByteReader(value, () => attrLenError(codec)("value truncated"));
      codec.decode(sub, len, ctx, attrs);
      if (sub.pos !== len) throw attrLenError(codec)("trailing bytes in value");
    } catch (e) {
      if (!(e instanceof BgpProtocolError)) throw e;
      e.attrType = type;
      if (e.action === "session-reset") throw e;
      errors.push(e);
    }
  }
  mergeAs4(attrs);
  return { attrs, errors };
}

/** RFC 6793 §4.2.3: reconstruct the true AS path from AS_PATH and AS4_PATH. */
function mergeAs4(a: PathAttributes): void {
  if (a.as4Path && a.asPath) {
    const count = (segs: AsPathSegment[]) =>
      segs.reduce((n, s) => n + (s.type === AsPathSegmentType.AS_SET ? 1 : s.type === AsPathSegmentType.AS_SEQUENCE ? s.asns.length : 0), 0);
    const n2 = count(a.asPath);
    const n4 = count(a.as4Path);
    if (n2 >= n4) {
      let keep = n2 - n4;
      const out: AsPathSegment[] = [];
      for (const s of a.asPath) {
        if (keep <= 0) break;
        if (s.type === AsPathSegmentType.AS_SEQUENCE) {
          const part = s.asns.slice(0, keep);
          out.push({ type: s.type, asns: part });
          keep -= part.length;
        } else {
          out.push(s);
          if (s.type === AsPathSegmentType.AS_SET) keep -= 1;
        }
      }
      // join adjacent sequences
      const merged = [...out, ...a.as4Path];
      const joined: AsPathSegment[] = [];
      for (const s of merged) {
        const last = joined[joined.length - 1];
        if (last && last.type === AsPathSegmentType.AS_SEQUENCE && s.type === AsPathSegmentType.AS_SEQUENCE && last.asns.length + s.asns.length <= 255) {
          last.asns = [...last.asns, ...s.asns];
        } else joined.push({ type: s.type, asns: [...s.asns] });
      }
      a.asPath = joined;
    }
  }
  delete a.as4Path;
  if (a.as4Aggregator && a.aggregator && a.aggregator.asNumber === AS_TRANS) a.aggregator = a.as4Aggregator;
  delete a.as4Aggregator;
}

/** Encodes attributes: MP_REACH/MP_UNREACH first (RFC 7606 §5.1), then by type, then unknown ones. */
export function encodeAttributes(a: PathAttributes, ctx: CodecOptions): Uint8Array {
  const w = new ByteWriter(128);
  const order = [
    AttrType.MP_REACH_NLRI,
    AttrType.MP_UNREACH_NLRI,
    ...[...ATTRIBUTE_CODECS.keys()].filter((t) => t !== AttrType.MP_REACH_NLRI && t !== AttrType.MP_UNREACH_NLRI).sort((x, y) => x - y),
  ];
  for (const type of order) {
    const codec = ATTRIBUTE_CODECS.get(type)!;
    const v = new ByteWriter(64);
    if (!codec.encode(a, ctx, v)) continue;
    writeAttr(w, codec.flags, type, v.finish());
  }
  for (const u of a.unknown ?? []) writeAttr(w, u.flags | AttrFlag.PARTIAL, u.type, u.data);
  return w.finish();
}

function writeAttr(w: ByteWriter, flags: number, type: number, value: Uint8Array): void {
  const ext = value.length > 255;
  w.u8((flags & 0xe0) | (ext ? AttrFlag.EXTENDED_LENGTH : 0)).u8(type);
  if (ext) w.u16(value.length);
  else w.u8(value.length);
  w.bytes(value);
}
