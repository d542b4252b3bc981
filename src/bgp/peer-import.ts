/**
 * One UPDATE from a peer into the Loc-RIB: RFC 4271 §9.1 import (rib/import.ts: loops,
 * RFC 7606 treat-as-withdraw), then the peer's import policy (policy.ts; a refused path leaves
 * the RIB as if withdrawn and counts as received), with the set actions of the matching term
 * applied once per attribute set. Keeps the peer's refused paths (for "received" counts).
 * No I/O: time is a parameter, changes gather in the caller's map.
 */
import { ACCEPT_ALL, applySet, evaluate, type CompiledPolicy } from "./policy.js";
import { importUpdate, type LocalIdentity } from "./rib/import.js";
import type { Rib, RibChange } from "./rib/rib.js";
import { pathKey, prefixKey, withAttrs, type PeerInfo, type PrefixKey, type RouteAttrs } from "./rib/types.js";
import type { AddressFamily } from "./wire/constants.js";
import type { UpdateMessage } from "./wire/update.js";

export interface ImportingPeer {
  info: PeerInfo;
  importPolicy: CompiledPolicy;
  /** Paths refused on import (loops, treat-as-withdraw, policy), by prefix key and path id. */
  rejected: Set<string>;
}

export interface ImportResult {
  /** Why the whole UPDATE was treated as a withdrawal (RFC 7606), if it was. */
  treatAsWithdraw: string | undefined;
  /** The family of the first path announced (for a maximum-prefix NOTIFICATION). */
  family: AddressFamily | undefined;
}

export function importInto(
  rib: Rib,
  u: UpdateMessage,
  peer: ImportingPeer,
  local: LocalIdentity,
  now: number,
  changes: Map<PrefixKey, RibChange>,
): ImportResult {
  const info = peer.info;
  const r = importUpdate(u, info, local, now);
  for (const w of r.withdraw) {
    rib.remove(info.id, w.prefix, w.pathId, changes);
    if (peer.rejected.size > 0) peer.rejected.delete(`${prefixKey(w.prefix)}#${w.pathId}`);
  }
  if (r.treatAsWithdraw) for (const w of r.withdraw) peer.rejected.add(`${prefixKey(w.prefix)}#${w.pathId}`);
  const pol = peer.importPolicy;
  const filtering = pol !== ACCEPT_ALL;
  let setMemo: Map<RouteAttrs, Map<number, RouteAttrs>> | undefined;
  for (let p of r.announce) {
    if (filtering) {
      const term = evaluate(pol, p.prefix, p.attrs.communities, p.attrs.largeCommunities, info.ibgp ? "ibgp" : "ebgp");
      if (term === undefined) {
        // refused by import policy: gone from the RIB as if withdrawn, counted as received
        rib.remove(info.id, p.prefix, p.pathId, changes);
        peer.rejected.add(`${pathKey(p)}#${p.pathId}`);
        continue;
      }
      if (term >= 0 && pol.terms[term]!.set) {
        setMemo ??= new Map();
        let byTerm = setMemo.get(p.attrs);
        if (!byTerm) setMemo.set(p.attrs, (byTerm = new Map()));
        let attrs = byTerm.get(term);
        if (!attrs) byTerm.set(term, (attrs = applySet(p.attrs, pol.terms[term]!)));
        p = withAttrs(p, attrs);
      }
    }
    if (peer.rejected.size > 0) peer.rejected.delete(`${pathKey(p)}#${p.pathId}`);
    rib.upsert(p, changes);
  }
  return { treatAsWithdraw: r.treatAsWithdraw, family: r.announce[0]?.family };
}
