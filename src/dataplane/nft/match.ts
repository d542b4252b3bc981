/**
 * RuleMatch → nft match expressions, per address family (calico-spec §3.2; felix
 * rules/rule_defs.go + FilterRuleToIPVersion). A rule becomes zero, one or two nft rules:
 * - it applies to the families allowed by ipVersion, by an ICMP protocol (1 ⇒ IPv4, 58 ⇒ IPv6)
 *   and by each nets list: a list that names no CIDR of a family rules that family out, so a
 *   rule mentioning only IPv4 nets never matches an IPv6 packet (Calico's "filteredAll");
 * - the parts that name addresses or IP sets are written per family (`ip saddr` / `ip6 saddr`,
 *   `@n4-…` / `@n6-…`); when no part depends on the family and both apply, one rule serves both;
 * - numeric ports and named ports of one side are alternatives (Calico ORs `ports: [80, "http"]`,
 *   with a scratch mark; here each alternative is its own rule with the same verdict), as are
 *   the two halves of a negated ICMP type+code.
 * Pure.
 */
import type { IpFamily, PortRange, RuleMatch } from "../../calc/policy-output.js";
import { tryParsePrefix } from "../../net/prefix.js";
import { TabbyError } from "../../errors.js";
import { ipSetName } from "./names.js";

function netsOf(list: string[] | undefined, fam: IpFamily): string[] | undefined {
  if (!list || list.length === 0) return undefined;
  const out: string[] = [];
  for (const n of list) {
    const p = tryParsePrefix(n);
    if (!p) throw new TabbyError("DP_NFT_BAD_RULE", `not a CIDR in a rule: ${JSON.stringify(n)}`, { net: n });
    if (p.family !== fam) continue;
    const net = p.network();
    out.push(net.len === net.maxLen ? net.addr.toString() : net.toString());
  }
  return [...new Set(out)];
}

function anon(items: string[]): string {
  return items.length === 1 ? items[0]! : `{ ${items.join(", ")} }`;
}

function ports(list: PortRange[]): string {
  return anon(list.map((r) => (r.first === r.last ? String(r.first) : `${r.first}-${r.last}`)));
}

/** The families a rule can match at all. */
export function ruleFamilies(m: RuleMatch): IpFamily[] {
  let fams: IpFamily[] = m.ipVersion ? [m.ipVersion] : [4, 6];
  if (m.protocol === 1) fams = fams.filter((f) => f === 4);
  if (m.protocol === 58) fams = fams.filter((f) => f === 6);
  for (const list of [m.srcNets, m.notSrcNets, m.dstNets, m.notDstNets]) {
    if (list?.length) fams = fams.filter((f) => (netsOf(list, f) ?? []).length > 0);
  }
  return fams;
}

export interface RenderedMatch {
  /** The family the text is restricted to, or undefined when it matches both. */
  family?: IpFamily;
  text: string;
}

/** The nft match texts (one per rule to emit) for a RuleMatch. */
export function renderMatch(m: RuleMatch): RenderedMatch[] {
  const fams = ruleFamilies(m);
  const perFam = fams.map((f) => ({ f, alts: renderForFamily(m, f) }));
  if (perFam.length === 2 && perFam.every((p) => p.alts.every((a) => !a.fs))) {
    return perFam[0]!.alts.map((a) => ({ text: a.text }));
  }
  const out: RenderedMatch[] = [];
  for (const { f, alts } of perFam) {
    // An alternative with no address or ICMP part says which family it is for.
    for (const a of alts) out.push({ family: f, text: a.fs ? a.text : join([`meta nfproto ipv${f}`, a.text]) });
  }
  return out;
}

function join(parts: string[]): string {
  return parts.filter((p) => p.length > 0).join(" ");
}

function renderForFamily(m: RuleMatch, f: IpFamily): { text: string; fs: boolean }[] {
  const ip = f === 4 ? "ip" : "ip6";
  const icmp = f === 4 ? "icmp" : "icmpv6";
  const base: string[] = [];
  let familySpecific = false;
  if (m.protocol !== undefined) base.push(`meta l4proto ${m.protocol}`);
  if (m.notProtocol !== undefined) base.push(`meta l4proto != ${m.notProtocol}`);
  const nets: [string[] | undefined, string][] = [
    [m.srcNets, `${ip} saddr`],
    [m.notSrcNets, `${ip} saddr !=`],
    [m.dstNets, `${ip} daddr`],
    [m.notDstNets, `${ip} daddr !=`],
  ];
  for (const [list, prefix] of nets) {
    const n = netsOf(list, f);
    if (n?.length) {
      base.push(`${prefix} ${anon(n)}`);
      familySpecific = true;
    }
  }
  const sets: [string[] | undefined, string][] = [
    [m.srcIpSets, `${ip} saddr`],
    [m.notSrcIpSets, `${ip} saddr !=`],
    [m.dstIpSets, `${ip} daddr`],
    [m.notDstIpSets, `${ip} daddr !=`],
  ];
  for (const [list, prefix] of sets) {
    for (const id of list ?? []) {
      base.push(`${prefix} @${ipSetName(id, f, "net")}`);
      familySpecific = true;
    }
  }
  if (m.notSrcPorts?.length) base.push(`th sport != ${ports(m.notSrcPorts)}`);
  if (m.notDstPorts?.length) base.push(`th dport != ${ports(m.notDstPorts)}`);
  if (m.icmpType !== undefined) {
    base.push(`${icmp} type ${m.icmpType}`);
    if (m.icmpCode !== undefined) base.push(`${icmp} code ${m.icmpCode}`);
    familySpecific = true;
  }
  // Alternatives (OR): numeric or named ports per side; a negated type+code pair.
  const side = (pr: PortRange[] | undefined, named: string[] | undefined, dir: "s" | "d"): { parts: string[]; fs: boolean }[] => {
    const alts: { parts: string[]; fs: boolean }[] = [];
    if (pr?.length) alts.push({ parts: [`th ${dir}port ${ports(pr)}`], fs: false });
    for (const id of named ?? []) {
      alts.push({ parts: [`${ip} ${dir}addr . meta l4proto . th ${dir}port @${ipSetName(id, f, "ip-port")}`], fs: true });
    }
    return alts.length ? alts : [{ parts: [], fs: false }];
  };
  const notIcmp: { parts: string[]; fs: boolean }[] = [];
  if (m.notIcmpType !== undefined) {
    notIcmp.push({ parts: [`${icmp} type != ${m.notIcmpType}`], fs: true });
    if (m.notIcmpCode !== undefined) notIcmp.push({ parts: [`${icmp} type ${m.notIcmpType}`, `${icmp} code != ${m.notIcmpCode}`], fs: true });
  }
  if (!notIcmp.length) notIcmp.push({ parts: [], fs: false });
  const alts: { text: string; fs: boolean }[] = [];
  for (const s of side(m.srcPorts, m.srcNamedPortIpSets, "s")) {
    for (const d of side(m.dstPorts, m.dstNamedPortIpSets, "d")) {
      for (const n of notIcmp) {
        alts.push({ text: join([...base, ...s.parts, ...d.parts, ...n.parts]), fs: familySpecific || s.fs || d.fs || n.fs });
      }
    }
  }
  return alts;
}
