/**
 * IP set contents: nets made disjoint for interval sets, the n4-/n6-/p4-/p6- sets of one IP set,
 * the IP sets a rule names, and element texts.
 */
import type { RuleMatch } from "../../calc/policy-output.js";
import { Prefix, tryParsePrefix } from "../../net/prefix.js";
import { ipSetName } from "./names.js";
import type { CanonicalMember, IpSetState } from "./state.js";
import type { NftSet } from "./table.js";

/** Net members without those inside another member (nft interval sets reject overlaps). */
export function disjointNets(members: Iterable<{ cidr: string; len: number }>): { cidr: string; len: number }[] {
  const list = [...members];
  // Host addresses only (the common case): distinct members cannot contain one another.
  if (list.every((m) => m.len === (m.cidr.includes(":") ? 128 : 32))) return list;
  const sorted = list.sort((a, b) => a.len - b.len);
  const kept = new Map<number, Set<string>>();
  const out: { cidr: string; len: number }[] = [];
  for (const m of sorted) {
    const p = tryParsePrefix(`${m.cidr}/${m.len}`)!;
    let inside = false;
    for (const [len, nets] of kept) {
      if (len <= m.len && nets.has(new Prefix(p.addr, len).network().addr.toString())) {
        inside = true;
        break;
      }
    }
    if (inside) continue;
    let s = kept.get(m.len);
    if (!s) kept.set(m.len, (s = new Set()));
    s.add(p.addr.toString());
    out.push(m);
  }
  return out;
}

export function netText(m: { cidr: string; len: number }): string {
  const full = m.cidr.includes(":") ? 128 : 32;
  return m.len === full ? m.cidr : `${m.cidr}/${m.len}`;
}

export function addrType(f: 4 | 6): string {
  return f === 4 ? "ipv4_addr" : "ipv6_addr";
}

export interface Refs {
  /** IP set id → type, for every id a rule mentions. */
  sets: Map<string, "net" | "ip-port">;
}

export function collectSetRefs(m: RuleMatch, refs: Refs): void {
  for (const id of [...(m.srcIpSets ?? []), ...(m.notSrcIpSets ?? []), ...(m.dstIpSets ?? []), ...(m.notDstIpSets ?? [])]) {
    if (!refs.sets.has(id)) refs.sets.set(id, "net");
  }
  for (const id of [...(m.srcNamedPortIpSets ?? []), ...(m.dstNamedPortIpSets ?? [])]) refs.sets.set(id, "ip-port");
}

/** The addresses of a list in one family, canonical (RFC 5952), host addresses only. */
export function hostAddrs(list: readonly string[], f: 4 | 6): Set<string> {
  const out = new Set<string>();
  for (const a of list) {
    const p = tryParsePrefix(a);
    if (p && p.family === f) out.add(p.addr.toString());
  }
  return out;
}

/** The two sets (one per family) of IP set `id`: nets (interval) or (address . proto . port). */
export function renderIpSets(id: string, type: "net" | "ip-port", st: IpSetState | undefined): [string, NftSet][] {
  const members = [...(st?.members.values() ?? [])];
  const out: [string, NftSet][] = [];
  for (const f of [4, 6] as const) {
    const mine = members.filter((m) => m.family === f);
    let elements: string[];
    if (type === "net") {
      elements = disjointNets(mine.filter((m): m is Extract<CanonicalMember, { kind: "net" }> => m.kind === "net")).map(netText);
    } else {
      elements = mine.filter((m) => m.kind === "ip-port").map((m) => `${m.addr} . ${m.proto} . ${m.port}`);
    }
    out.push([
      ipSetName(id, f, type),
      {
        type: type === "net" ? addrType(f) : `${addrType(f)} . inet_proto . inet_service`,
        interval: type === "net",
        comment: id,
        elements: new Set(elements.sort()),
      },
    ]);
  }
  return out;
}
