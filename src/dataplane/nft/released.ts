/**
 * Which addresses local workloads let go of, for the conntrack flush that follows (Felix's
 * ConntrackCleanupManager, felix/routetable/conntrack_owner_tracker.go): an address owned by a
 * local workload endpoint's interface is released when no local endpoint owns it any more (the
 * endpoint was removed, or changed its addresses) or when another interface owns it now (the
 * address moved to a new workload). An update that keeps the address on the same interface
 * releases nothing, nor does an address that had no local owner before (Felix: "updates where
 * there was no previous route don't need cleanup"). Single addresses only (/32, /128), as Felix.
 * Pure: no I/O.
 */
import type { WorkloadEndpointUpdate } from "../../calc/policy-output.js";
import { tryParsePrefix } from "../../net/prefix.js";

/** Address (RFC 5952 text for IPv6) → the interface of the local endpoint that owns it. */
export function addressOwners(workloads: Iterable<WorkloadEndpointUpdate>): Map<string, string> {
  const out = new Map<string, string>();
  for (const w of workloads) {
    for (const a of w.addrs) {
      const p = tryParsePrefix(a);
      if (p && p.len === p.maxLen) out.set(p.addr.toString(), w.iface);
    }
  }
  return out;
}

/** The addresses owned in `before` whose owner is gone or another interface in `after`, sorted. */
export function releasedAddresses(before: ReadonlyMap<string, string>, after: ReadonlyMap<string, string>): string[] {
  const out: string[] = [];
  for (const [addr, iface] of before) if (after.get(addr) !== iface) out.push(addr);
  return out.sort();
}
