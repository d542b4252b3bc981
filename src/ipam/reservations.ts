/**
 * IPReservations as IPAM sees them (Calico v3 `IPReservation.spec.reservedCIDRs`;
 * libcalico-go `ipam.go` skips reserved addresses on automatic assignment and never claims a block
 * that is reserved in full). Pure: no I/O.
 */
import { tryParsePrefix, type Prefix } from "../net/prefix.js";

/** The reserved CIDRs of IPReservation resources (JSON text or objects); unparseable entries are skipped. */
export function reservedPrefixes(values: (string | unknown)[]): Prefix[] {
  const out: Prefix[] = [];
  for (const v of values) {
    let o: { spec?: { reservedCIDRs?: unknown } };
    try {
      o = (typeof v === "string" ? JSON.parse(v) : v) as typeof o;
    } catch {
      continue;
    }
    const list = o?.spec?.reservedCIDRs;
    if (!Array.isArray(list)) continue;
    for (const s of list) {
      const p = typeof s === "string" ? tryParsePrefix(s) : undefined;
      if (p) out.push(p.network());
    }
  }
  return out;
}

/** Ordinals of `block` that lie in a reserved prefix. */
export function reservedOrdinals(block: Prefix, reserved: readonly Prefix[]): Set<number> {
  const out = new Set<number>();
  const size = block.size();
  for (const r of reserved) {
    if (r.family !== block.family || !r.overlaps(block)) continue;
    if (r.containsPrefix(block)) {
      for (let i = 0; i < Number(size); i++) out.add(i);
      continue;
    }
    // r lies inside the block (prefixes either nest or are disjoint).
    const first = Number(block.offsetOf(r.addr));
    const n = Number(r.size());
    for (let i = 0; i < n; i++) out.add(first + i);
  }
  return out;
}

/** True when every address of `block` is reserved. */
export function fullyReserved(block: Prefix, reserved: readonly Prefix[]): boolean {
  if (reserved.some((r) => r.family === block.family && r.containsPrefix(block))) return true;
  return reservedOrdinals(block, reserved).size === Number(block.size());
}
