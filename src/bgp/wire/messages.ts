/**
 * BGP messages (RFC 4271 §4): the message union, `encodeMessage` and `decodeMessage` over whole
 * framed messages (header included), NOTIFICATION (§4.5, RFC 9003 shutdown communication),
 * KEEPALIVE (§4.4), ROUTE-REFRESH (RFC 2918). Decoding takes the negotiated options. Pure.
 */
import { BgpProtocolError } from "../errors.js";
import { ByteReader, ByteWriter } from "./bytes.js";
import { CeaseSubcode, ErrorCode, HEADER_LENGTH, HeaderSubcode, MARKER_LENGTH, MAX_MESSAGE_LENGTH, MessageType, RouteRefreshSubcode } from "./constants.js";
import { DEFAULT_CODEC_OPTIONS, type CodecOptions } from "./attributes.js";
import { decodeOpenBody, encodeOpenBody, type OpenMessage } from "./open.js";
import { decodeUpdateBody, encodeUpdateBody, type UpdateMessage } from "./update.js";

export interface NotificationMessage {
  type: "notification";
  code: number;
  subcode: number;
  data: Uint8Array;
}

export interface KeepaliveMessage {
  type: "keepalive";
}

export interface RouteRefreshMessage {
  type: "route-refresh";
  afi: number;
  safi: number;
  /** RFC 7313 message subtype (0 = normal request). */
  subtype: number;
}

export type BgpMessage = OpenMessage | UpdateMessage | NotificationMessage | KeepaliveMessage | RouteRefreshMessage;

function header(type: number, body: Uint8Array): Uint8Array {
  const len = HEADER_LENGTH + body.length;
  if (len > MAX_MESSAGE_LENGTH)
    throw new BgpProtocolError(`message of ${len} bytes exceeds ${MAX_MESSAGE_LENGTH}`, ErrorCode.MESSAGE_HEADER, HeaderSubcode.BAD_MESSAGE_LENGTH);
  const out = new Uint8Array(len);
  out.fill(0xff, 0, MARKER_LENGTH);
  out[16] = len >> 8;
  out[17] = len & 0xff;
  out[18] = type;
  out.set(body, HEADER_LENGTH);
  return out;
}

export function encodeMessage(m: BgpMessage, ctx: CodecOptions = DEFAULT_CODEC_OPTIONS): Uint8Array {
  switch (m.type) {
    case "open":
      return header(MessageType.OPEN, encodeOpenBody(m));
    case "update":
      return header(MessageType.UPDATE, encodeUpdateBody(m, ctx));
    case "notification":
      return header(MessageType.NOTIFICATION, new ByteWriter(2 + m.data.length).u8(m.code).u8(m.subcode).bytes(m.data).finish());
    case "keepalive":
      return header(MessageType.KEEPALIVE, new Uint8Array(0));
    case "route-refresh":
      return header(MessageType.ROUTE_REFRESH, new ByteWriter(4).u16(m.afi).u8(m.subtype).u8(m.safi).finish());
  }
}

/** Decodes one whole message as returned by BgpFramer. */
export function decodeMessage(msg: Uint8Array, ctx: CodecOptions = DEFAULT_CODEC_OPTIONS): BgpMessage {
  const badLen = () =>
    new BgpProtocolError("bad message length", ErrorCode.MESSAGE_HEADER, HeaderSubcode.BAD_MESSAGE_LENGTH, "session-reset", msg.slice(16, 18));
  if (msg.length < HEADER_LENGTH) throw badLen();
  for (let i = 0; i < MARKER_LENGTH; i++) {
    if (msg[i] !== 0xff) throw new BgpProtocolError("marker is not all ones", ErrorCode.MESSAGE_HEADER, HeaderSubcode.CONNECTION_NOT_SYNCHRONIZED);
  }
  const len = (msg[16]! << 8) | msg[17]!;
  if (len !== msg.length) throw badLen();
  const type = msg[18]!;
  const body = msg.subarray(HEADER_LENGTH);
  switch (type) {
    case MessageType.OPEN:
      if (len < 29) throw badLen();
      return decodeOpenBody(body);
    case MessageType.UPDATE:
      if (len < 23) throw badLen();
      return decodeUpdateBody(body, ctx);
    case MessageType.NOTIFICATION: {
      if (len < 21) throw badLen();
      return { type: "notification", code: body[0]!, subcode: body[1]!, data: body.slice(2) };
    }
    case MessageType.KEEPALIVE:
      if (len !== HEADER_LENGTH) throw badLen();
      return { type: "keepalive" };
    case MessageType.ROUTE_REFRESH: {
      if (len !== 23) {
        throw new BgpProtocolError("ROUTE-REFRESH length", ErrorCode.ROUTE_REFRESH, RouteRefreshSubcode.INVALID_MESSAGE_LENGTH, "session-reset", msg.slice());
      }
      const r = new ByteReader(body, badLen);
      const afi = r.u16();
      const subtype = r.u8();
      return { type: "route-refresh", afi, subtype, safi: r.u8() };
    }
    default:
      throw new BgpProtocolError(`bad message type ${type}`, ErrorCode.MESSAGE_HEADER, HeaderSubcode.BAD_MESSAGE_TYPE, "session-reset", Uint8Array.of(type));
  }
}

/** NOTIFICATION Cease/Administrative Shutdown or Reset with an RFC 9003 shutdown communication. */
export function ceaseNotification(subcode: number, shutdownMessage?: string): NotificationMessage {
  let data: Uint8Array = new Uint8Array(0);
  if (shutdownMessage !== undefined && (subcode === CeaseSubcode.ADMINISTRATIVE_SHUTDOWN || subcode === CeaseSubcode.ADMINISTRATIVE_RESET)) {
    let text = Buffer.from(shutdownMessage, "utf8");
    if (text.length > 255) text = text.subarray(0, 255);
    data = new ByteWriter(1 + text.length).u8(text.length).bytes(text).finish();
  }
  return { type: "notification", code: ErrorCode.CEASE, subcode, data };
}

/** The RFC 9003 shutdown communication in a Cease NOTIFICATION, if any. */
export function shutdownCommunication(n: NotificationMessage): string | undefined {
  if (n.code !== ErrorCode.CEASE || n.data.length < 1) return undefined;
  const len = n.data[0]!;
  if (len + 1 > n.data.length) return undefined;
  return Buffer.from(n.data.subarray(1, 1 + len)).toString("utf8");
}
