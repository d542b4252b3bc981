/**
 * Splits a TCP byte stream into whole BGP messages (RFC 4271 §4.1): checks the all-ones marker and
 * the length field, keeps partial data between pushes. Pure: bytes in, message byte arrays out.
 */
import { BgpProtocolError } from "../errors.js";
import { ErrorCode, HEADER_LENGTH, HeaderSubcode, MARKER_LENGTH, MAX_MESSAGE_LENGTH } from "./constants.js";

export class BgpFramer {
  private pending: Uint8Array = new Uint8Array(0);

  constructor(private readonly maxLength = MAX_MESSAGE_LENGTH) {}

  /** Adds a chunk; returns every message completed by it (each including its 19-byte header). */
  push(chunk: Uint8Array): Uint8Array[] {
    let data: Uint8Array;
    if (this.pending.length === 0) data = chunk;
    else {
      data = new Uint8Array(this.pending.length + chunk.length);
      data.set(this.pending);
      data.set(chunk, this.pending.length);
    }
    const out: Uint8Array[] = [];
    let pos = 0;
    for (;;) {
      const avail = data.length - pos;
      // check the marker as soon as its bytes are here, so garbage fails early
      const markerBytes = Math.min(avail, MARKER_LENGTH);
      for (let i = 0; i < markerBytes; i++) {
        if (data[pos + i] !== 0xff) {
          throw new BgpProtocolError("message header marker is not all ones", ErrorCode.MESSAGE_HEADER, HeaderSubcode.CONNECTION_NOT_SYNCHRONIZED);
        }
      }
      if (avail < HEADER_LENGTH) break;
      const len = (data[pos + 16]! << 8) | data[pos + 17]!;
      if (len < HEADER_LENGTH || len > this.maxLength) {
        throw new BgpProtocolError(
          `bad message length ${len}`,
          ErrorCode.MESSAGE_HEADER,
          HeaderSubcode.BAD_MESSAGE_LENGTH,
          "session-reset",
          data.slice(pos + 16, pos + 18),
        );
      }
      if (avail < len) break;
      out.push(data.slice(pos, pos + len));
      pos += len;
    }
    this.pending = pos === data.length ? new Uint8Array(0) : data.slice(pos);
    return out;
  }

  /** Bytes held waiting for the rest of a message. */
  get buffered(): number {
    return this.pending.length;
  }
}
