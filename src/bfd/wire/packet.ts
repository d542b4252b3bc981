/**
 * BFD Control packet codec (RFC 5880 §4.1, authentication sections §4.2-§4.4). Pure: bytes in,
 * bytes out. `decodeControl` applies the reception checks of §6.8.6 that need no session (version,
 * length, detect multiplier, multipoint, my discriminator, your discriminator outside
 * Down/AdminDown, the authentication section's own framing); `checkAuthPresence` is the check
 * that needs the session's configuration (the A bit against whether authentication is in use).
 * Intervals are in microseconds, as on the wire.
 *
 *   0                   1                   2                   3
 *   |Vers |  Diag   |Sta|P|F|C|A|D|M|  Detect Mult  |    Length     |
 *   |                       My Discriminator                        |
 *   |                      Your Discriminator                       |
 *   |                    Desired Min TX Interval                    |
 *   |                   Required Min RX Interval                    |
 *   |                 Required Min Echo RX Interval                 |
 *   [ Auth Type | Auth Len | Authentication Data...               ]
 */
import { BfdError } from "../errors.js";

export const BFD_VERSION = 1;
/** Length of the mandatory section. */
export const HEADER_LEN = 24;

/** bfd.SessionState values as on the wire (§4.1 "Sta"). */
export const State = { AdminDown: 0, Down: 1, Init: 2, Up: 3 } as const;
export type StateName = keyof typeof State;
export const STATE_NAMES: readonly StateName[] = ["AdminDown", "Down", "Init", "Up"];

/** Diagnostic codes (§4.1 "Diag"). */
export const Diag = {
  NONE: 0,
  DETECTION_TIME_EXPIRED: 1,
  ECHO_FAILED: 2,
  NEIGHBOR_DOWN: 3,
  FORWARDING_RESET: 4,
  PATH_DOWN: 5,
  CONCATENATED_PATH_DOWN: 6,
  ADMIN_DOWN: 7,
  REVERSE_CONCATENATED_PATH_DOWN: 8,
} as const;

/** Authentication types (§4.1 "Auth Type"). */
export const AuthType = { SIMPLE_PASSWORD: 1, KEYED_MD5: 2, METICULOUS_KEYED_MD5: 3, KEYED_SHA1: 4, METICULOUS_KEYED_SHA1: 5 } as const;

export type BfdAuth =
  /** §4.2: Auth Len = 3 + password length (1..16). */
  | { type: 1; keyId: number; password: Uint8Array }
  /** §4.3 (digest 16 bytes, Auth Len 24) and §4.4 (hash 20 bytes, Auth Len 28). */
  | { type: 2 | 3 | 4 | 5; keyId: number; sequence: number; digest: Uint8Array };

export interface ControlPacket {
  version: number;
  diag: number;
  state: StateName;
  poll: boolean;
  final: boolean;
  /** C bit: forwarding is independent of the control plane. */
  controlPlaneIndependent: boolean;
  demand: boolean;
  multipoint: boolean;
  detectMult: number;
  myDiscriminator: number;
  yourDiscriminator: number;
  desiredMinTx: number;
  requiredMinRx: number;
  requiredMinEchoRx: number;
  auth?: BfdAuth;
}

const DIGEST_LEN: Record<2 | 3 | 4 | 5, number> = { 2: 16, 3: 16, 4: 20, 5: 20 };

function fail(code: string, message: string, details?: Record<string, unknown>): never {
  throw new BfdError(code, message, details);
}

function u32(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) fail("BFD_ENCODE", `${what} is not a 32-bit unsigned integer: ${v}`);
  return v;
}

function authLength(a: BfdAuth): number {
  if (a.type === 1) return 3 + a.password.length;
  return 8 + DIGEST_LEN[a.type];
}

/** Encodes a Control packet. Refuses values that do not fit their field. */
export function encodeControl(p: ControlPacket): Uint8Array {
  if (!Number.isInteger(p.version) || p.version < 0 || p.version > 7) fail("BFD_ENCODE", `version does not fit 3 bits: ${p.version}`);
  if (!Number.isInteger(p.diag) || p.diag < 0 || p.diag > 31) fail("BFD_ENCODE", `diagnostic does not fit 5 bits: ${p.diag}`);
  if (!Number.isInteger(p.detectMult) || p.detectMult < 0 || p.detectMult > 255) fail("BFD_ENCODE", `detect multiplier does not fit a byte: ${p.detectMult}`);
  if (p.auth) {
    const a = p.auth;
    if (a.type === 1 && (a.password.length < 1 || a.password.length > 16)) fail("BFD_ENCODE", "a simple password has 1 to 16 bytes");
    if (a.type !== 1 && a.digest.length !== DIGEST_LEN[a.type]) fail("BFD_ENCODE", `auth type ${a.type} carries a ${DIGEST_LEN[a.type]}-byte digest`);
    if (!Number.isInteger(a.keyId) || a.keyId < 0 || a.keyId > 255) fail("BFD_ENCODE", `auth key id does not fit a byte: ${a.keyId}`);
  }
  const len = HEADER_LEN + (p.auth ? authLength(p.auth) : 0);
  const b = new Uint8Array(len);
  const v = new DataView(b.buffer);
  b[0] = (p.version << 5) | p.diag;
  b[1] =
    (State[p.state] << 6) |
    (p.poll ? 0x20 : 0) |
    (p.final ? 0x10 : 0) |
    (p.controlPlaneIndependent ? 0x08 : 0) |
    (p.auth ? 0x04 : 0) |
    (p.demand ? 0x02 : 0) |
    (p.multipoint ? 0x01 : 0);
  b[2] = p.detectMult;
  b[3] = len;
  v.setUint32(4, u32(p.myDiscriminator, "my discriminator"));
  v.setUint32(8, u32(p.yourDiscriminator, "your discriminator"));
  v.setUint32(12, u32(p.desiredMinTx, "desired min tx interval"));
  v.setUint32(16, u32(p.requiredMinRx, "required min rx interval"));
  v.setUint32(20, u32(p.requiredMinEchoRx, "required min echo rx interval"));
  if (p.auth) {
    const a = p.auth;
    b[24] = a.type;
    b[25] = authLength(a);
    b[26] = a.keyId;
    if (a.type === 1) b.set(a.password, 27);
    else {
      b[27] = 0; // reserved
      v.setUint32(28, u32(a.sequence, "auth sequence number"));
      b.set(a.digest, 32);
    }
  }
  return b;
}

/**
 * Decodes a Control packet received as `buf` (the whole UDP payload) and applies the reception
 * checks of RFC 5880 §6.8.6 that need no session. Throws BfdError (BFD_*) for a packet that
 * must be discarded.
 */
export function decodeControl(buf: Uint8Array): ControlPacket {
  if (buf.length < HEADER_LEN) fail("BFD_LENGTH", `packet of ${buf.length} bytes is shorter than a Control packet (24)`);
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const version = buf[0]! >> 5;
  if (version !== BFD_VERSION) fail("BFD_VERSION", `version ${version}, not 1`, { version });
  const flags = buf[1]!;
  const a = (flags & 0x04) !== 0;
  const length = buf[3]!;
  if (length < (a ? HEADER_LEN + 2 : HEADER_LEN)) fail("BFD_LENGTH", `Length field ${length} is below the minimum ${a ? 26 : 24}`, { length });
  if (length > buf.length) fail("BFD_LENGTH", `Length field ${length} exceeds the ${buf.length} bytes received`, { length });
  const detectMult = buf[2]!;
  if (detectMult === 0) fail("BFD_DETECT_MULT", "Detect Mult is zero");
  if ((flags & 0x01) !== 0) fail("BFD_MULTIPOINT", "Multipoint (M) bit is set");
  const myDiscriminator = v.getUint32(4);
  if (myDiscriminator === 0) fail("BFD_MY_DISCRIMINATOR", "My Discriminator is zero");
  const yourDiscriminator = v.getUint32(8);
  const state = STATE_NAMES[flags >> 6]!;
  if (yourDiscriminator === 0 && state !== "Down" && state !== "AdminDown") {
    fail("BFD_YOUR_DISCRIMINATOR", `Your Discriminator is zero in state ${state}`, { state });
  }
  const p: ControlPacket = {
    version,
    diag: buf[0]! & 0x1f,
    state,
    poll: (flags & 0x20) !== 0,
    final: (flags & 0x10) !== 0,
    controlPlaneIndependent: (flags & 0x08) !== 0,
    demand: (flags & 0x02) !== 0,
    multipoint: false,
    detectMult,
    myDiscriminator,
    yourDiscriminator,
    desiredMinTx: v.getUint32(12),
    requiredMinRx: v.getUint32(16),
    requiredMinEchoRx: v.getUint32(20),
  };
  if (a) p.auth = decodeAuth(buf.subarray(HEADER_LEN, length));
  return p;
}

function decodeAuth(b: Uint8Array): BfdAuth {
  const type = b[0]!;
  const len = b[1]!;
  if (len > b.length) fail("BFD_AUTH_LENGTH", `Auth Len ${len} exceeds the ${b.length} bytes of the authentication section`, { authLen: len });
  if (type === AuthType.SIMPLE_PASSWORD) {
    if (len < 4 || len > 19) fail("BFD_AUTH_LENGTH", `simple password Auth Len ${len} is outside 4..19`, { authLen: len });
    return { type: 1, keyId: b[2]!, password: b.slice(3, len) };
  }
  if (type >= 2 && type <= 5) {
    const t = type as 2 | 3 | 4 | 5;
    const want = 8 + DIGEST_LEN[t];
    if (len !== want || b.length < want) fail("BFD_AUTH_LENGTH", `auth type ${type} needs Auth Len ${want}, got ${len}`, { authLen: len });
    const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    return { type: t, keyId: b[2]!, sequence: v.getUint32(4), digest: b.slice(8, want) };
  }
  fail("BFD_AUTH_TYPE", `unknown authentication type ${type}`, { authType: type });
}

/**
 * §6.8.6: a packet whose A bit does not match whether the session uses authentication is
 * discarded (A set without authentication configured, or A clear with it configured).
 */
export function checkAuthPresence(p: ControlPacket, authConfigured: boolean): void {
  if (!!p.auth !== authConfigured) {
    fail(
      "BFD_AUTH_MISMATCH",
      p.auth ? "packet is authenticated but the session has no authentication" : "session requires authentication but the packet has none",
    );
  }
}
