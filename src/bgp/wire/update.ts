/**
 * UPDATE message body (RFC 4271 §4.3): withdrawn routes, path attributes, NLRI; RFC 7606
 * mandatory-attribute checks; End-of-RIB markers (RFC 4724 §2). Pure.
 */
import { BgpProtocolError } from "../errors.js";
import { ByteReader, ByteWriter } from "./bytes.js";
import { ErrorCode, UpdateSubcode, type AddressFamily } from "./constants.js";
import { decodeAttributes, encodeAttributes, type CodecOptions, type PathAttributes } from "./attributes.js";
import { decodeNlri, encodeNlriTo, type Nlri } from "./nlri.js";

export interface UpdateMessage {
  type: "update";
  /** Classic IPv4 withdrawn routes. */
  withdrawn: Nlri[];
  attributes: PathAttributes;
  /** Classic IPv4 NLRI. */
  nlri: Nlri[];
  /** Non-fatal decode problems (RFC 7606); absent on messages built for sending. */
  errors?: BgpProtocolError[];
}

export function decodeUpdateBody(body: Uint8Array, ctx: CodecOptions): UpdateMessage {
  const malformed = (m: string) => new BgpProtocolError(m, ErrorCode.UPDATE_MESSAGE, UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, "session-reset");
  const r = new ByteReader(body, () => malformed("UPDATE field lengths overrun the message"));
  const wlen = r.u16();
  const withdrawn = decodeNlri(r.bytes(wlen), "ipv4", ctx.addPath.ipv4);
  const alen = r.u16();
  const { attrs, errors } = decodeAttributes(r.bytes(alen), ctx);
  const nlri = decodeNlri(r.bytes(r.remaining), "ipv4", ctx.addPath.ipv4);
  // RFC 7606 §3.d: missing well-known mandatory attributes when there is something to announce
  const announces = nlri.length > 0 || (attrs.mpReach?.nlri.length ?? 0) > 0;
  if (announces) {
    const missing: string[] = [];
    if (attrs.origin === undefined) missing.push("ORIGIN");
    if (attrs.asPath === undefined) missing.push("AS_PATH");
    if (nlri.length > 0 && attrs.nextHop === undefined) missing.push("NEXT_HOP");
    if (missing.length > 0) {
      errors.push(
        new BgpProtocolError(
          `missing well-known attribute(s) ${missing.join(", ")}`,
          ErrorCode.UPDATE_MESSAGE,
          UpdateSubcode.MISSING_WELL_KNOWN_ATTRIBUTE,
          "treat-as-withdraw",
        ),
      );
    }
  }
  const u: UpdateMessage = { type: "update", withdrawn, attributes: attrs, nlri };
  if (errors.length > 0) u.errors = errors;
  return u;
}

export function encodeUpdateBody(u: UpdateMessage, ctx: CodecOptions): Uint8Array {
  const w = new ByteWriter(256);
  const wAt = w.length;
  w.u16(0);
  for (const n of u.withdrawn) encodeNlriTo(w, n, ctx.addPath.ipv4);
  w.patchU16(wAt, w.length - wAt - 2);
  const attrs = encodeAttributes(u.attributes, ctx);
  w.u16(attrs.length).bytes(attrs);
  for (const n of u.nlri) encodeNlriTo(w, n, ctx.addPath.ipv4);
  return w.finish();
}

/** The End-of-RIB marker for a family: an empty UPDATE (IPv4) or an empty MP_UNREACH (others). */
export function endOfRib(family: AddressFamily): UpdateMessage {
  if (family === "ipv4") return { type: "update", withdrawn: [], attributes: {}, nlri: [] };
  return { type: "update", withdrawn: [], attributes: { mpUnreach: { family, withdrawn: [] } }, nlri: [] };
}

/** The family whose End-of-RIB this UPDATE is, or undefined. */
export function isEndOfRib(u: UpdateMessage): AddressFamily | undefined {
  if (u.withdrawn.length > 0 || u.nlri.length > 0) return undefined;
  const keys = Object.keys(u.attributes).filter((k) => (u.attributes as Record<string, unknown>)[k] !== undefined);
  if (keys.length === 0) return "ipv4";
  if (keys.length === 1 && u.attributes.mpUnreach && u.attributes.mpUnreach.withdrawn.length === 0) return u.attributes.mpUnreach.family;
  return undefined;
}
