/**
 * BFD authentication (RFC 5880 §6.7): simple password (§6.7.2), keyed and meticulous keyed MD5
 * (§6.7.3) and SHA1 (§6.7.4). Signing puts the key (zero-padded to the digest size) in the
 * digest field, hashes the whole packet and writes the hash over it; verifying does the same
 * with the received bytes and compares in constant time. Sequence numbers: ours go up by one per
 * packet (which both keyed and meticulous modes allow); a received one must fall within
 * 3 × Detect Mult of the last accepted one (from it for keyed, after it for meticulous), modulo
 * 2^32. Pure (hashing only, no I/O).
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { BfdError } from "../errors.js";
import { HEADER_LEN, encodeControl, type BfdAuth, type ControlPacket } from "./packet.js";
import { AUTH_TYPE as TYPE, hashOf, type BfdAuthConfig } from "./auth-config.js";

export { AUTH_KINDS, validateAuthConfig, type BfdAuthConfig, type BfdAuthKind } from "./auth-config.js";

function fail(code: string, message: string): never {
  throw new BfdError(code, message);
}

function keyBytes(c: BfdAuthConfig, len: number): Uint8Array {
  const b = new Uint8Array(len);
  b.set(Buffer.from(c.key, "utf8").subarray(0, len));
  return b;
}

function digest(packet: Uint8Array, t: 2 | 3 | 4 | 5, key: Uint8Array): Uint8Array {
  const { alg, len } = hashOf(t);
  const b = packet.slice();
  b.set(key, HEADER_LEN + 8);
  return new Uint8Array(createHash(alg).update(b).digest()).subarray(0, len);
}

/** Encodes `p` with an authentication section for `c`, using sequence number `seq` when keyed. */
export function signControl(p: ControlPacket, c: BfdAuthConfig, seq: number): Uint8Array {
  const t = TYPE[c.type];
  let auth: BfdAuth;
  if (t === 1) auth = { type: 1, keyId: c.keyId, password: Buffer.from(c.key, "utf8") };
  else auth = { type: t, keyId: c.keyId, sequence: seq >>> 0, digest: keyBytes(c, hashOf(t).len) };
  const wire = encodeControl({ ...p, auth });
  if (t !== 1) wire.set(digest(wire, t, keyBytes(c, hashOf(t).len)), HEADER_LEN + 8);
  return wire;
}

/** The receive side's sequence state (bfd.AuthSeqKnown, bfd.RcvAuthSeq). */
export interface AuthRxState {
  known: boolean;
  seq: number;
}

/**
 * Checks a received, decoded packet (`bytes` its first Length bytes) against `c`; returns the
 * new sequence state. Throws BFD_AUTH_TYPE, BFD_AUTH_KEY_ID, BFD_AUTH_SEQUENCE or BFD_AUTH_FAILED.
 */
export function verifyControl(bytes: Uint8Array, p: ControlPacket, c: BfdAuthConfig, rx: AuthRxState): AuthRxState {
  const a = p.auth;
  if (!a) fail("BFD_AUTH_MISMATCH", "session requires authentication but the packet has none");
  const t = TYPE[c.type];
  if (a.type !== t) fail("BFD_AUTH_TYPE", `auth type ${a.type}, the session uses ${t}`);
  if (a.keyId !== c.keyId) fail("BFD_AUTH_KEY_ID", `auth key id ${a.keyId}, the session uses ${c.keyId}`);
  if (a.type === 1) {
    const want = Buffer.from(c.key, "utf8");
    if (a.password.length !== want.length || !timingSafeEqual(a.password, want)) fail("BFD_AUTH_FAILED", "wrong password");
    return rx;
  }
  const meticulous = a.type === 3 || a.type === 5;
  if (rx.known) {
    const ahead = (a.sequence - rx.seq) >>> 0;
    const window = 3 * p.detectMult;
    if (ahead > window || (meticulous && ahead === 0)) fail("BFD_AUTH_SEQUENCE", `sequence ${a.sequence} outside the window after ${rx.seq}`);
  }
  const want = digest(bytes.subarray(0, bytes[3]), a.type, keyBytes(c, hashOf(a.type).len));
  if (!timingSafeEqual(Buffer.from(a.digest), Buffer.from(want))) fail("BFD_AUTH_FAILED", "digest mismatch");
  return { known: true, seq: a.sequence };
}
