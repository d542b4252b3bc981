/**
 * Notification support for graceful restart (RFC 8538). When both OPENs carried the N bit, a
 * session ended by a NOTIFICATION, sent or received, is treated like a lost TCP connection: each
 * side keeps the other's routes, stale, for the restart time (RFC 4724 helper procedures), unless
 * the NOTIFICATION is a Hard Reset (Cease subcode 9), which flushes them as before. A speaker that
 * means the session to end for good sends its Cease wrapped in a Hard Reset: the data is the
 * original error code, subcode and data (§3). Which Cease subcodes are sent that way follows §5.1:
 * maximum prefixes reached, administrative shutdown, peer de-configured, hard reset and BFD down;
 * an administrative reset, a configuration change, a rejected connection, a collision and a lack
 * of resources stay graceful. Pure.
 */
import { CeaseSubcode, ErrorCode } from "./wire/constants.js";
import type { NotificationMessage } from "./wire/messages.js";

const HARD: ReadonlySet<number> = new Set([
  CeaseSubcode.MAX_PREFIXES_REACHED,
  CeaseSubcode.ADMINISTRATIVE_SHUTDOWN,
  CeaseSubcode.PEER_DECONFIGURED,
  CeaseSubcode.HARD_RESET,
  CeaseSubcode.BFD_DOWN,
]);

export function isHardReset(n: NotificationMessage): boolean {
  return n.code === ErrorCode.CEASE && n.subcode === CeaseSubcode.HARD_RESET;
}

/** Whether this NOTIFICATION is sent as a Hard Reset once the N bit has been exchanged (§5.1). */
export function sentAsHardReset(n: NotificationMessage): boolean {
  return n.code === ErrorCode.CEASE && HARD.has(n.subcode);
}

/** The Hard Reset carrying `n` (§3): Cease/9 with n's code, subcode and data as its data. */
export function hardReset(n: NotificationMessage): NotificationMessage {
  if (isHardReset(n)) return n;
  const data = new Uint8Array(2 + n.data.length);
  data[0] = n.code;
  data[1] = n.subcode;
  data.set(n.data, 2);
  return { type: "notification", code: ErrorCode.CEASE, subcode: CeaseSubcode.HARD_RESET, data };
}

/** What goes on the wire for `n` on a session whose OPENs did (`nBit`) or did not exchange the N bit. */
export function onTheWire(n: NotificationMessage, nBit: boolean): NotificationMessage {
  return nBit && sentAsHardReset(n) ? hardReset(n) : n;
}

/**
 * With the N bit exchanged, whether the routes outlive a session ended by `n` (§4): yes unless it
 * was, or went out as, a Hard Reset.
 */
export function keepsRoutes(n: NotificationMessage, sent: boolean): boolean {
  return sent ? !sentAsHardReset(n) : !isHardReset(n);
}

/** The NOTIFICATION a Hard Reset carries (§3), or undefined when `n` is none or too short. */
export function unwrapHardReset(n: NotificationMessage): NotificationMessage | undefined {
  if (!isHardReset(n) || n.data.length < 2) return undefined;
  return { type: "notification", code: n.data[0]!, subcode: n.data[1]!, data: n.data.subarray(2) };
}
