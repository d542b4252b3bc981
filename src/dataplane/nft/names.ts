/**
 * Names and mark bits of tabby's nftables table (`inet tabby`). Chain and set names are short,
 * start with a letter and use only [A-Za-z0-9_.-] so they never need quoting in `nft -f`
 * scripts; ids that are long or carry other characters become a hash, as Calico's
 * GetLengthLimitedID does for its `cali-pi-<id>` chains (calico-spec §4.1).
 */
import { createHash } from "node:crypto";

export const TABLE_FAMILY = "inet";
export const TABLE_NAME = "tabby";
export const TABLE = `${TABLE_FAMILY} ${TABLE_NAME}`;

/**
 * Packet mark bits tabby owns (Calico's Accept 0x10000 and Pass 0x20000 of its 0xffff0000
 * mask). Accept: a policy/profile (or a preDNAT/untracked policy earlier in the path) accepted
 * the packet; Pass: a policy in the current tier passed it to the next tier. Both are cleared
 * at the start of every endpoint chain and of the raw hooks; no other bit is touched.
 */
export const MARK_ACCEPT = 0x10000;
export const MARK_PASS = 0x20000;
export const MARK_MASK = MARK_ACCEPT | MARK_PASS;

export function hex32(n: number): string {
  return "0x" + (n >>> 0).toString(16).padStart(8, "0");
}

const hashMemo = new Map<string, string>();

/** 16 hex chars of sha256(s): 64 bits, collision-free in practice for a host's objects. Memoised. */
export function shortHash(s: string): string {
  let h = hashMemo.get(s);
  if (h === undefined) {
    if (hashMemo.size > 200_000) hashMemo.clear();
    h = createHash("sha256").update(s).digest("hex").slice(0, 16);
    hashMemo.set(s, h);
  }
  return h;
}

/** Chain of a policy or profile in one direction: `pi-<hash>` (ingress), `po-<hash>` (egress). */
export function policyChain(policyId: string, dir: "ingress" | "egress"): string {
  return (dir === "ingress" ? "pi-" : "po-") + shortHash(policyId);
}

const SAFE_IFACE = /^[A-Za-z0-9_.-]{1,15}$/;

/** An interface name as a chain-name suffix: as is when safe, `*` as `_all`, else a hash. */
export function ifaceSuffix(iface: string): string {
  if (iface === "*") return "_all";
  return SAFE_IFACE.test(iface) ? iface : "_" + shortHash(iface);
}

/** Named set of an IP set id for one family: `n4-`/`n6-` (nets), `p4-`/`p6-` (ip-port). */
export function ipSetName(id: string, fam: 4 | 6, type: "net" | "ip-port"): string {
  return (type === "net" ? "n" : "p") + fam + "-" + shortHash(id);
}

/** An nft double-quoted string: quotes and backslashes and control characters removed. */
export function nftString(s: string): string {
  return `"${s.replace(/["\\\n\r\t]/g, "")}"`;
}

/**
 * Connection mark bits tabby owns (the fast path, fastpath.ts): the policy epoch a forwarded
 * connection was last judged under (bits 16-30, 1..32767; 0 = never judged) and "denied at that
 * epoch" (bit 31). The low 16 bits are left to others.
 */
export const CT_EPOCH_SHIFT = 16;
export const CT_EPOCH_MAX = 0x7fff;
export const CT_DENIED = 0x80000000;
export const CT_MASK = 0xffff0000;
