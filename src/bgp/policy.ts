/**
 * Import and export policy for one peer, covering what Calico's BGPPeer and BGPFilter express:
 * terms of `{match, action, set}` evaluated in order, first match wins. Match: prefixes with
 * length ranges (`ge`/`le`, as in BIRD's `net ~ [ p{ge,le} ]` and Calico's BGPFilter
 * `matchOperator`/`prefixLength`), prefixes the route must NOT match (`notPrefix`: BGPFilter
 * `NotEqual`/`NotIn`, BIRD's `net !~ …`), where the route came from (`source`: originated here,
 * learned over iBGP or over eBGP; BGPFilter `source: RemotePeers` is ibgp+ebgp, BIRD's
 * `source = RTS_BGP`), communities (any of) and large communities (RFC 8092, any of).
 * Set: LOCAL_PREF, MED, communities and large communities added and removed, next hop `self` or
 * `keep` (export). With no term matching, `defaultAction`
 * applies; RFC 8212: on eBGP sessions with no policy configured that default is reject (the
 * config layer decides, see bgp-run). Pure.
 */
import type { IP } from "../net/ip.js";
import { parsePrefix, type Prefix } from "../net/prefix.js";
import { BgpError } from "./errors.js";

export interface PrefixMatchConfig {
  prefix: string;
  ge?: number;
  le?: number;
}

/** Where a route came from: originated by this speaker, or learned from an iBGP or eBGP peer. */
export type RouteSource = "local" | "ibgp" | "ebgp";
const SOURCES: readonly RouteSource[] = ["local", "ibgp", "ebgp"];

export interface PolicyTermConfig {
  match?: {
    /** Any of these (an empty list matches nothing). */
    prefix?: PrefixMatchConfig[];
    /** None of these. */
    notPrefix?: PrefixMatchConfig[];
    /** Any of these sources. */
    source?: RouteSource[];
    community?: string[];
    largeCommunity?: string[];
  };
  action: "accept" | "reject";
  set?: {
    localPref?: number;
    med?: number;
    communities?: { add?: string[]; remove?: string[] };
    /** RFC 8092 large communities as "global:local1:local2". */
    largeCommunities?: { add?: string[]; remove?: string[] };
    nextHop?: "self" | "keep";
  };
}

interface PrefixRange {
  prefix: Prefix;
  ge: number;
  le: number;
}

export interface CompiledTerm {
  prefixes: PrefixRange[] | undefined;
  notPrefixes: PrefixRange[] | undefined;
  sources: RouteSource[] | undefined;
  communities: number[] | undefined;
  largeCommunities: LargeCommunity[] | undefined;
  accept: boolean;
  set: PolicyTermConfig["set"] | undefined;
  addCommunities: number[];
  removeCommunities: number[];
  addLarge: LargeCommunity[];
  removeLarge: LargeCommunity[];
}

export type LargeCommunity = [number, number, number];

export interface CompiledPolicy {
  terms: CompiledTerm[];
  defaultAccept: boolean;
}

const NAMED: Record<string, number> = { "no-export": 0xffffff01, "no-advertise": 0xffffff02, "no-export-subconfed": 0xffffff03 };

export function parseCommunityValue(s: string): number {
  const n = NAMED[s.toLowerCase()];
  if (n !== undefined) return n;
  const m = /^(\d+):(\d+)$/.exec(s);
  if (!m || Number(m[1]) > 0xffff || Number(m[2]) > 0xffff) throw new BgpError("BGP_BAD_COMMUNITY", `not a community: ${s}`);
  return ((Number(m[1]) << 16) | Number(m[2])) >>> 0;
}

/** RFC 8092 §3 text form "global:local1:local2", each a 32-bit unsigned integer. */
export function parseLargeCommunity(s: string): LargeCommunity {
  const m = /^(\d+):(\d+):(\d+)$/.exec(s);
  const parts = m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [];
  if (!m || parts.some((x) => x > 0xffffffff)) throw new BgpError("BGP_BAD_COMMUNITY", `not a large community: ${s}`);
  return parts as LargeCommunity;
}

const sameLarge = (a: readonly number[], b: readonly number[]) => a[0] === b[0] && a[1] === b[1] && a[2] === b[2];

function badPolicy(msg: string): BgpError {
  return new BgpError("BGP_BAD_POLICY", msg);
}

export function compilePolicy(terms: PolicyTermConfig[] | undefined, defaultAccept: boolean): CompiledPolicy {
  const out: CompiledTerm[] = [];
  for (const [i, t] of (terms ?? []).entries()) {
    if (t.action !== "accept" && t.action !== "reject") throw badPolicy(`policy term ${i + 1}: action must be accept or reject`);
    const range = (pm: PrefixMatchConfig): PrefixRange => {
      const prefix = parsePrefix(pm.prefix).network();
      const max = prefix.maxLen;
      const ge = pm.ge ?? prefix.len;
      const le = pm.le ?? (pm.ge !== undefined ? max : prefix.len);
      if (!Number.isInteger(ge) || !Number.isInteger(le) || ge < prefix.len || le < ge || le > max) {
        throw badPolicy(`policy term ${i + 1}: ${pm.prefix} needs ${prefix.len} ≤ ge ≤ le ≤ ${max} (got ge ${ge}, le ${le})`);
      }
      return { prefix, ge, le };
    };
    const prefixes = t.match?.prefix?.map(range);
    const notPrefixes = t.match?.notPrefix?.map(range);
    const sources = t.match?.source;
    for (const src of sources ?? [])
      if (!SOURCES.includes(src)) throw badPolicy(`policy term ${i + 1}: match.source must be local, ibgp or ebgp, got ${JSON.stringify(src)}`);
    const set = t.set;
    for (const [k, v] of [
      ["localPref", set?.localPref],
      ["med", set?.med],
    ] as const) {
      if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > 0xffffffff))
        throw badPolicy(`policy term ${i + 1}: set.${k} must be a 32-bit unsigned integer`);
    }
    if (set?.nextHop !== undefined && set.nextHop !== "self" && set.nextHop !== "keep") throw badPolicy(`policy term ${i + 1}: set.nextHop is self or keep`);
    out.push({
      prefixes,
      notPrefixes,
      sources: sources ? [...sources] : undefined,
      communities: t.match?.community?.map(parseCommunityValue),
      largeCommunities: t.match?.largeCommunity?.map(parseLargeCommunity),
      accept: t.action === "accept",
      set,
      addCommunities: set?.communities?.add?.map(parseCommunityValue) ?? [],
      removeCommunities: set?.communities?.remove?.map(parseCommunityValue) ?? [],
      addLarge: set?.largeCommunities?.add?.map(parseLargeCommunity) ?? [],
      removeLarge: set?.largeCommunities?.remove?.map(parseLargeCommunity) ?? [],
    });
  }
  return { terms: out, defaultAccept };
}

export const ACCEPT_ALL: CompiledPolicy = { terms: [], defaultAccept: true };

function inRanges(ranges: PrefixRange[], p: Prefix): boolean {
  for (const m of ranges) {
    if (p.family === m.prefix.family && p.len >= m.ge && p.len <= m.le && m.prefix.contains(p.addr)) return true;
  }
  return false;
}

/**
 * The index of the first matching term, or -1. `source`: where the route came from; a term that
 * asks for a source never matches a route whose source is not given.
 */
export function matchTerm(
  policy: CompiledPolicy,
  prefix: Prefix,
  communities: readonly number[],
  large: readonly (readonly number[])[] = [],
  source?: RouteSource,
): number {
  for (let i = 0; i < policy.terms.length; i++) {
    const t = policy.terms[i]!;
    if (t.prefixes && !inRanges(t.prefixes, prefix)) continue;
    if (t.notPrefixes && inRanges(t.notPrefixes, prefix)) continue;
    if (t.sources && (source === undefined || !t.sources.includes(source))) continue;
    if (t.communities && !t.communities.some((c) => communities.includes(c))) continue;
    if (t.largeCommunities && !t.largeCommunities.some((c) => large.some((l) => sameLarge(c, l)))) continue;
    return i;
  }
  return -1;
}

/** Attributes a term may change (a subset of RouteAttrs and of PathAttributes alike). */
export interface SettableAttrs {
  localPref?: number;
  med?: number;
  communities?: number[];
  largeCommunities?: LargeCommunity[];
  nextHop?: IP;
}

/** A copy of `attrs` with the term's set actions applied (communities sorted, no duplicates). */
export function applySet<A extends SettableAttrs>(attrs: A, t: CompiledTerm): A {
  const s = t.set;
  if (!s) return attrs;
  const out = { ...attrs };
  if (s.localPref !== undefined) out.localPref = s.localPref;
  if (s.med !== undefined) out.med = s.med;
  if (t.addCommunities.length > 0 || t.removeCommunities.length > 0) {
    const set = new Set(attrs.communities ?? []);
    for (const c of t.removeCommunities) set.delete(c);
    for (const c of t.addCommunities) set.add(c);
    out.communities = [...set].sort((a, b) => a - b);
  }
  if (t.addLarge.length > 0 || t.removeLarge.length > 0) {
    const kept = (attrs.largeCommunities ?? []).filter((c) => !t.removeLarge.some((r) => sameLarge(c, r)));
    for (const c of t.addLarge) if (!kept.some((k) => sameLarge(k, c))) kept.push(c);
    kept.sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]);
    out.largeCommunities = kept;
  }
  return out;
}

/** Evaluates the policy: undefined when rejected, else the term that matched (or -1 for the default). */
export function evaluate(
  policy: CompiledPolicy,
  prefix: Prefix,
  communities: readonly number[],
  large?: readonly (readonly number[])[],
  source?: RouteSource,
): number | undefined {
  const i = matchTerm(policy, prefix, communities, large, source);
  if (i < 0) return policy.defaultAccept ? -1 : undefined;
  return policy.terms[i]!.accept ? i : undefined;
}
