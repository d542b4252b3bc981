/**
 * Which BFD session a watch joins (RFC 5880 §6.8.6, RFC 5881 §3: one session per peer address,
 * single hop or multihop) and whether its options agree with the session's. Shared by the
 * service (service.ts) and the main thread's side of the worker (worker-client.ts), which must
 * refuse a conflicting watch synchronously, before the worker hears of it. No I/O.
 */
import { parseIP } from "../net/ip.js";
import type { BfdOptions } from "./options.js";

/** The peer's address as one spelling (IPv6 canonical). */
export function canonicalAddress(a: string): string {
  return parseIP(a).toString();
}

/** The session a watch of `peer` (canonical) joins. */
export function sessionKey(peer: string, multihop: boolean): string {
  return `${multihop ? "multihop" : "single"}|${peer}`;
}

/** What a second watcher of a session must agree on with the first. */
export function optionsKey(o: BfdOptions, local: string | undefined): string {
  return JSON.stringify([o.minRx, o.minTx, o.multiplier, !!o.multihop, o.auth?.type, o.auth?.keyId, o.auth?.key, local ?? null]);
}
