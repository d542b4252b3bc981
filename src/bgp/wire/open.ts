/**
 * OPEN message body (RFC 4271 §4.2) with capabilities in optional parameter 2 (RFC 5492):
 * multiprotocol (RFC 4760), route refresh (RFC 2918), 4-octet AS (RFC 6793), graceful restart
 * (RFC 4724: restart state R, forwarding state F per AFI/SAFI), ADD-PATH (RFC 7911), enhanced route
 * refresh (RFC 7313). Extended optional parameters (RFC 9072) are parsed.
 * Unknown capabilities are kept as raw bytes. Pure.
 */
import { BgpProtocolError } from "../errors.js";
import { ByteReader, ByteWriter, dottedToU32, u32ToDotted } from "./bytes.js";
import { AS_TRANS, CapabilityCode, ErrorCode, HeaderSubcode, OpenSubcode } from "./constants.js";

export type AddPathMode = 1 | 2 | 3; // 1 receive, 2 send, 3 both

export type Capability =
  | { code: 1; afi: number; safi: number }
  | { code: 2 | 70 }
  | { code: 65; asNumber: number }
  | { code: 64; restarting: boolean; notification: boolean; restartTime: number; families: { afi: number; safi: number; forwarding: boolean }[] }
  | { code: 69; families: { afi: number; safi: number; mode: AddPathMode }[] }
  | { code: number; raw: Uint8Array };

export interface OpenMessage {
  type: "open";
  version: number;
  /** The 2-byte "My Autonomous System" field (AS_TRANS for 4-byte ASNs). */
  myAs: number;
  holdTime: number;
  /** BGP Identifier as dotted quad. */
  routerId: string;
  capabilities: Capability[];
}

function openError(msg: string, sub: number = OpenSubcode.UNSUPPORTED_OPTIONAL_PARAMETER): BgpProtocolError {
  return new BgpProtocolError(msg, ErrorCode.OPEN_MESSAGE, sub);
}

export function encodeCapability(w: ByteWriter, c: Capability): void {
  w.u8(c.code);
  const lenAt = w.length;
  w.u8(0);
  const start = w.length;
  if ("raw" in c) w.bytes(c.raw);
  else if (c.code === CapabilityCode.MULTIPROTOCOL && "afi" in c) w.u16(c.afi).u8(0).u8(c.safi);
  else if (c.code === CapabilityCode.FOUR_OCTET_AS && "asNumber" in c) w.u32(c.asNumber);
  else if (c.code === CapabilityCode.GRACEFUL_RESTART && "restartTime" in c) {
    w.u16((c.restarting ? 0x8000 : 0) | (c.notification ? 0x4000 : 0) | (c.restartTime & 0xfff));
    for (const f of c.families)
      w.u16(f.afi)
        .u8(f.safi)
        .u8(f.forwarding ? 0x80 : 0);
  } else if (c.code === CapabilityCode.ADD_PATH && "families" in c) {
    for (const f of c.families as { afi: number; safi: number; mode: number }[]) w.u16(f.afi).u8(f.safi).u8(f.mode);
  }
  const len = w.length - start;
  if (len > 255) throw openError("capability too long");
  w.patchU8(lenAt, len);
}

function decodeCapability(code: number, data: Uint8Array): Capability {
  const r = new ByteReader(data, () => openError(`capability ${code} is truncated`));
  switch (code) {
    case CapabilityCode.MULTIPROTOCOL: {
      if (data.length !== 4) break;
      const afi = r.u16();
      r.u8();
      return { code, afi, safi: r.u8() };
    }
    case CapabilityCode.ROUTE_REFRESH:
    case CapabilityCode.ENHANCED_ROUTE_REFRESH:
      if (data.length === 0) return { code };
      break;
    case CapabilityCode.FOUR_OCTET_AS:
      if (data.length !== 4) throw openError("4-octet AS capability must be 4 bytes", OpenSubcode.UNSUPPORTED_CAPABILITY);
      return { code, asNumber: r.u32() };
    case CapabilityCode.GRACEFUL_RESTART: {
      if (data.length < 2 || (data.length - 2) % 4 !== 0) break;
      const flags = r.u16();
      const families: { afi: number; safi: number; forwarding: boolean }[] = [];
      while (r.remaining > 0) families.push({ afi: r.u16(), safi: r.u8(), forwarding: (r.u8() & 0x80) !== 0 });
      return { code, restarting: (flags & 0x8000) !== 0, notification: (flags & 0x4000) !== 0, restartTime: flags & 0xfff, families };
    }
    case CapabilityCode.ADD_PATH: {
      if (data.length % 4 !== 0) break;
      const families: { afi: number; safi: number; mode: AddPathMode }[] = [];
      while (r.remaining > 0) {
        const afi = r.u16();
        const safi = r.u8();
        const mode = r.u8();
        if (mode >= 1 && mode <= 3) families.push({ afi, safi, mode: mode as AddPathMode });
      }
      return { code, families };
    }
  }
  return { code, raw: data.slice() };
}

export function encodeOpenBody(m: OpenMessage): Uint8Array {
  const caps = new ByteWriter();
  for (const c of m.capabilities) encodeCapability(caps, c);
  const capBytes = caps.finish();
  const w = new ByteWriter(64);
  w.u8(m.version).u16(m.myAs).u16(m.holdTime).u32(dottedToU32(m.routerId));
  if (capBytes.length === 0) w.u8(0);
  else {
    // one optional parameter of type 2 holding every capability (RFC 5492 §4)
    if (capBytes.length + 2 > 255) throw openError("capabilities exceed 253 bytes");
    w.u8(capBytes.length + 2)
      .u8(2)
      .u8(capBytes.length)
      .bytes(capBytes);
  }
  return w.finish();
}

export function decodeOpenBody(body: Uint8Array): OpenMessage {
  if (body.length < 10) {
    throw new BgpProtocolError("OPEN shorter than 29 bytes", ErrorCode.MESSAGE_HEADER, HeaderSubcode.BAD_MESSAGE_LENGTH);
  }
  const r = new ByteReader(body, () => openError("OPEN optional parameters overrun the message"));
  const version = r.u8();
  const myAs = r.u16();
  const holdTime = r.u16();
  const routerId = u32ToDotted(r.u32());
  let optLen = r.u8();
  let extended = false;
  // RFC 9072: non-extended length 255 and first parameter type 255 → 2-byte lengths follow
  if (optLen === 255 && r.remaining >= 1 && body[r.pos] === 255) {
    r.u8();
    optLen = r.u16();
    extended = true;
  }
  if (optLen !== r.remaining) throw openError("optional parameter length does not match the message");
  const capabilities: Capability[] = [];
  while (r.remaining > 0) {
    const ptype = r.u8();
    const plen = extended ? r.u16() : r.u8();
    const pdata = r.bytes(plen);
    if (ptype !== 2) throw openError(`unsupported optional parameter ${ptype}`);
    const cr = new ByteReader(pdata, () => openError("capability overruns its parameter"));
    while (cr.remaining > 0) {
      const code = cr.u8();
      const clen = cr.u8();
      capabilities.push(decodeCapability(code, cr.bytes(clen)));
    }
  }
  return { type: "open", version, myAs, holdTime, routerId, capabilities };
}

/** The 4-byte AS from the capability when present, otherwise the 2-byte field. */
export function openAsNumber(m: OpenMessage): number {
  const c = m.capabilities.find((x) => x.code === CapabilityCode.FOUR_OCTET_AS);
  return c && "asNumber" in c ? c.asNumber : m.myAs;
}

/** The value for the 2-byte My AS field. */
export function twoByteAs(asn: number): number {
  return asn > 0xffff ? AS_TRANS : asn;
}
