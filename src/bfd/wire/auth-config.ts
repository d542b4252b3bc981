/**
 * BFD authentication settings (RFC 5880 §6.7): the kinds, their Auth Type codes and key sizes,
 * and the check of a configuration. Apart from the signing and verifying in auth.ts (which needs
 * node:crypto), so that a config can be checked without loading the BFD machinery. Pure.
 */
import { BfdError } from "../errors.js";
import { AuthType } from "./packet.js";

export type BfdAuthKind = "simple" | "keyed-md5" | "meticulous-keyed-md5" | "keyed-sha1" | "meticulous-keyed-sha1";

export interface BfdAuthConfig {
  type: BfdAuthKind;
  /** Auth Key ID carried in packets (0-255). */
  keyId: number;
  /** The password or key: 1-16 bytes (simple, MD5) or 1-20 bytes (SHA1). */
  key: string;
}

export const AUTH_TYPE: Record<BfdAuthKind, 1 | 2 | 3 | 4 | 5> = {
  simple: AuthType.SIMPLE_PASSWORD,
  "keyed-md5": AuthType.KEYED_MD5,
  "meticulous-keyed-md5": AuthType.METICULOUS_KEYED_MD5,
  "keyed-sha1": AuthType.KEYED_SHA1,
  "meticulous-keyed-sha1": AuthType.METICULOUS_KEYED_SHA1,
};
export const AUTH_KINDS = Object.keys(AUTH_TYPE) as BfdAuthKind[];

/** The digest of a keyed Auth Type: MD5 (16 bytes) or SHA1 (20 bytes). */
export const hashOf = (t: 2 | 3 | 4 | 5) => (t <= 3 ? { alg: "md5", len: 16 } : { alg: "sha1", len: 20 });

function fail(code: string, message: string): never {
  throw new BfdError(code, message);
}

export function validateAuthConfig(c: BfdAuthConfig): void {
  if (!AUTH_KINDS.includes(c.type)) fail("BFD_CONFIG", `bfd auth type must be one of ${AUTH_KINDS.join(", ")}: ${String(c.type)}`);
  if (!Number.isInteger(c.keyId) || c.keyId < 0 || c.keyId > 255) fail("BFD_CONFIG", `bfd auth keyId must be 0..255: ${String(c.keyId)}`);
  const t = AUTH_TYPE[c.type];
  const max = t === 1 ? 16 : hashOf(t).len;
  const n = typeof c.key === "string" ? Buffer.byteLength(c.key) : 0;
  if (n < 1 || n > max) fail("BFD_CONFIG", `bfd auth key must be 1..${max} bytes for ${c.type}`);
}
