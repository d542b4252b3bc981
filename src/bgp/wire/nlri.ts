/**
 * NLRI prefix encoding (RFC 4271 §4.3, RFC 4760 §5): length in bits, then the minimum number of
 * address bytes; with ADD-PATH (RFC 7911 §3) each prefix is preceded by a 4-byte path identifier.
 * Pure.
 */
import { IP } from "../../net/ip.js";
import { Prefix } from "../../net/prefix.js";
import { BgpProtocolError, type ErrorAction } from "../errors.js";
import { ByteReader, type ByteWriter } from "./bytes.js";
import { ErrorCode, UpdateSubcode, type AddressFamily } from "./constants.js";

export interface Nlri {
  prefix: Prefix;
  /** ADD-PATH path identifier; 0 when the session does not use ADD-PATH in that direction. */
  pathId: number;
}

function nlriError(msg: string, action: ErrorAction): BgpProtocolError {
  return new BgpProtocolError(msg, ErrorCode.UPDATE_MESSAGE, UpdateSubcode.INVALID_NETWORK_FIELD, action);
}

/** Decodes a run of NLRI filling `data` completely. Host bits past the length are masked off. */
export function decodeNlri(data: Uint8Array, family: AddressFamily, addPath: boolean, action: ErrorAction = "session-reset"): Nlri[] {
  const r = new ByteReader(data, () => nlriError("NLRI runs past its field", action));
  const max = family === "ipv4" ? 32 : 128;
  const size = max / 8;
  // One backing buffer for the whole run, each address a 4- or 16-byte view of it: a separate
  // small Uint8Array costs ~200 bytes, a view a third of that (measured on Node 20). The run is at
  // most one UPDATE (≤ 4 KiB), which is all a long-lived prefix can keep alive.
  const count = countNlri(data, addPath);
  const slab = new Uint8Array(count * size);
  const out: Nlri[] = new Array(count);
  for (let k = 0; r.remaining > 0; k++) {
    const pathId = addPath ? r.u32() : 0;
    const bits = r.u8();
    if (bits > max) throw nlriError(`prefix length ${bits} too long for ${family}`, action);
    const n = (bits + 7) >> 3;
    const src = r.bytes(n);
    const addr = slab.subarray(k * size, k * size + size);
    addr.set(src);
    if (bits & 7) addr[n - 1]! &= (0xff << (8 - (bits & 7))) & 0xff;
    out[k] = { prefix: new Prefix(new IP(addr), bits), pathId };
  }
  return out;
}

/** How many NLRI `data` holds (an upper bound when malformed; the decoder then throws). */
function countNlri(data: Uint8Array, addPath: boolean): number {
  let i = 0;
  let c = 0;
  while (i < data.length) {
    const bits = data[i + (addPath ? 4 : 0)] ?? 0;
    i += (addPath ? 4 : 0) + 1 + ((bits + 7) >> 3);
    c++;
  }
  return c;
}

export function encodeNlriTo(w: ByteWriter, n: Nlri, addPath: boolean): void {
  if (addPath) w.u32(n.pathId);
  // host bits past the length are left out by the byte count below, and the last byte masked
  const p = n.prefix;
  w.u8(p.len);
  const full = p.len >> 3;
  const b = p.addr.bytes;
  for (let i = 0; i < full; i++) w.u8(b[i]!);
  if (p.len & 7) w.u8(b[full]! & (0xff << (8 - (p.len & 7))) & 0xff);
}

export function nlriLength(n: Nlri, addPath: boolean): number {
  return (addPath ? 4 : 0) + 1 + ((n.prefix.len + 7) >> 3);
}
