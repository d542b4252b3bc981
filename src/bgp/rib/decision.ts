/**
 * The BGP decision process (RFC 4271 §9.1.2.2 with the RFC 4456 §9 tie-breaks), written as the
 * RFC's sequence of eliminations so that the set left after the IGP-cost step is the multipath
 * (ECMP) set. Locally originated paths win before step 1. Pure.
 *
 *  1. highest degree of preference (LOCAL_PREF for iBGP paths, 100 for eBGP paths)
 *  2. shortest AS_PATH (AS_SET counts 1, confederation segments 0)
 *  3. lowest ORIGIN
 *  4. lowest MED among paths from the same neighbour AS (missing MED = 0; set operation, so the
 *     result does not depend on arrival order)
 *  5. eBGP-learned over iBGP-learned
 *  6. lowest IGP cost to the next hop (all equal here: no IGP)     → multipath set
 *  7. lowest BGP Identifier of the advertiser, ORIGINATOR_ID when present
 *  8. shortest CLUSTER_LIST
 *  9. lowest peer address
 */
import { dottedToU32 } from "../wire/bytes.js";
import { AsPathSegmentType } from "../wire/constants.js";
import type { AsPathSegment } from "../wire/attributes.js";
import type { Path } from "./types.js";

export const DEFAULT_LOCAL_PREF = 100;

export function asPathLength(segs: AsPathSegment[]): number {
  let n = 0;
  for (const s of segs) {
    if (s.type === AsPathSegmentType.AS_SEQUENCE) n += s.asns.length;
    else if (s.type === AsPathSegmentType.AS_SET) n += 1;
  }
  return n;
}

/** The neighbouring AS: first AS of the leading AS_SEQUENCE; `localAs` for an empty path. */
export function neighborAs(p: Path, localAs: number): number {
  for (const s of p.attrs.asPath) {
    if (s.type === AsPathSegmentType.AS_CONFED_SEQUENCE || s.type === AsPathSegmentType.AS_CONFED_SET) continue;
    if (s.type === AsPathSegmentType.AS_SEQUENCE && s.asns.length > 0) return s.asns[0]!;
    break;
  }
  return localAs;
}

export function degreeOfPreference(p: Path): number {
  if (!p.source) return Number.MAX_SAFE_INTEGER;
  if (!p.source.ibgp) return DEFAULT_LOCAL_PREF;
  return p.attrs.localPref ?? DEFAULT_LOCAL_PREF;
}

function keepMin(paths: Path[], f: (p: Path) => number): Path[] {
  let min = Infinity;
  for (const p of paths) min = Math.min(min, f(p));
  return paths.filter((p) => f(p) === min);
}

function keepMax(paths: Path[], f: (p: Path) => number): Path[] {
  return keepMin(paths, (p) => -f(p));
}

/** Step 4 as a set operation (RFC 4271 §9.1.2.2 c). */
function medStep(paths: Path[], localAs: number): Path[] {
  const minByAs = new Map<number, number>();
  for (const p of paths) {
    const as = neighborAs(p, localAs);
    const med = p.attrs.med ?? 0;
    minByAs.set(as, Math.min(minByAs.get(as) ?? Infinity, med));
  }
  return paths.filter((p) => (p.attrs.med ?? 0) === minByAs.get(neighborAs(p, localAs)));
}

export interface Decision {
  best: Path | undefined;
  /** Paths equal to the best through step 6 (the best included, first). */
  multipath: Path[];
}

export function decide(candidates: readonly Path[], localAs: number): Decision {
  if (candidates.length === 0) return { best: undefined, multipath: [] };
  // the caller never mutates `candidates` (the RIB copies on write), so one path shares the array
  if (candidates.length === 1) return { best: candidates[0], multipath: candidates as Path[] };
  let set = [...candidates];
  const local = set.filter((p) => !p.source);
  if (local.length > 0) return { best: local[0], multipath: [local[0]!] };
  set = keepMax(set, degreeOfPreference);
  set = keepMin(set, (p) => asPathLength(p.attrs.asPath));
  set = keepMin(set, (p) => p.attrs.origin);
  set = medStep(set, localAs);
  if (set.some((p) => !p.source!.ibgp)) set = set.filter((p) => !p.source!.ibgp);
  const multipath = set;
  set = keepMin(set, (p) => dottedToU32(p.attrs.originatorId ?? p.source!.routerId));
  set = keepMin(set, (p) => p.attrs.clusterList.length);
  set = [...set].sort((a, b) => a.source!.address.compare(b.source!.address) || a.pathId - b.pathId);
  const best = set[0]!;
  return { best, multipath: [best, ...multipath.filter((p) => p !== best)] };
}
