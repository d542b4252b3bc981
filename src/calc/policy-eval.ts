/**
 * A direct evaluator of Calico's policy semantics for one packet: would traffic from A to B
 * (protocol, port) be allowed? It reads the v3 resources as they are and walks tiers, policies,
 * rules and profiles exactly as calico-spec §3.3 describes (egress at the source endpoint, then
 * ingress at the destination). It shares no code with the calculation graph or the nftables
 * renderer on purpose: `tabby lab check` uses it as the independent statement of what the
 * policies mean, against which the dataplane's behaviour is measured. Pure: no I/O.
 *
 * Host endpoints are evaluated for forwarded traffic only (calico-spec §4): a packet between
 * workloads on different nodes leaves its source node and enters its destination node through
 * the world's `fabricInterface`; a host endpoint for that interface (or `*`) on either node
 * applies its applyOnForward GlobalNetworkPolicies (egress on the way out, ingress on the way in),
 * tiers as for workloads, with no profiles; when no applyOnForward policy applies, forwarded
 * traffic passes. Traffic to or from the hosts themselves is not evaluated.
 */
import { parseSelector, rewriteNamespaceSelector, NAMESPACE_LABEL, type Selector } from "../selector/index.js";
import { parsePrefix, tryParseIP, type IP } from "../net/index.js";
import type { Resource } from "../model/resource.js";
import { unenforceableCriteria, type EntityRule, type Rule, type Port } from "../model/rules.js";

export interface EvalEndpoint {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  profiles: string[];
  /** Addresses without prefix length. */
  addrs: string[];
  ports?: { name: string; protocol?: string; port: number }[];
  serviceAccount?: string;
  /** The node the workload runs on (needed only when host endpoints are given). */
  node?: string;
}

export interface EvalHostEndpoint {
  name: string;
  node: string;
  /** The interface it protects; "*" for all of the host's interfaces. */
  interfaceName: string;
  labels: Record<string, string>;
}

export interface EvalWorld {
  endpoints: EvalEndpoint[];
  /** Host endpoints (optional); see fabricInterface. */
  hostEndpoints?: EvalHostEndpoint[];
  /** The interface traffic between nodes leaves and enters by (the lab's "eth0"). */
  fabricInterface?: string;
  /** Tier, NetworkPolicy, GlobalNetworkPolicy, Profile, NetworkSet, GlobalNetworkSet resources. */
  resources: Resource[];
}

export type EvalProtocol = "tcp" | "udp" | "icmp";

export interface EvalPacket {
  src: string;
  dst: string;
  protocol: EvalProtocol;
  dstPort?: number;
  srcPort?: number;
}

export interface Verdict {
  allowed: boolean;
  /** What decided, e.g. `np lab/allow-web rule 1 (Allow)` or `end of tier default`. */
  by: string;
  /** For `tabby explain`: the tier, the policy (`np ns/name`, `gnp name`, `profile name`), the rule (1-based) that decided. */
  tier?: string;
  policy?: string;
  ruleIndex?: number;
  rule?: Rule;
}

export interface Evaluation {
  allowed: boolean;
  egress: Verdict;
  ingress: Verdict;
}

/** Calico's built-in tiers: order and default action. */
const BUILTIN_TIERS: Record<string, { order: number; defaultAction: "Deny" | "Pass" }> = {
  "kube-admin": { order: 1000, defaultAction: "Pass" },
  default: { order: 1_000_000, defaultAction: "Deny" },
  "kube-baseline": { order: 10_000_000, defaultAction: "Pass" },
};

const PROTO_NUM: Record<string, number> = { TCP: 6, UDP: 17, ICMP: 1, ICMPv6: 58, SCTP: 132, UDPLite: 136 };

interface PolicyView {
  kindShort: "np" | "gnp";
  namespace?: string;
  name: string;
  tier: string;
  order: number;
  selector: Selector;
  types: ("Ingress" | "Egress")[];
  applyOnForward: boolean;
  ingress: Rule[];
  egress: Rule[];
  spec: Record<string, unknown>;
}

export class PolicyEvaluator {
  private readonly endpointsByIp = new Map<string, EvalEndpoint>();
  private readonly effectiveLabels = new Map<EvalEndpoint, Record<string, string>>();
  private readonly policies: PolicyView[] = [];
  private readonly tiers = new Map<string, { order: number; defaultAction: "Deny" | "Pass" }>();
  private readonly profiles = new Map<string, Resource>();
  private readonly netSets: { namespace?: string; labels: Record<string, string>; nets: string[] }[] = [];
  private readonly selectorCache = new Map<string, Selector>();
  private readonly hostEndpoints: EvalHostEndpoint[];
  private readonly fabricInterface: string | undefined;

  constructor(world: EvalWorld) {
    this.hostEndpoints = world.hostEndpoints ?? [];
    this.fabricInterface = world.fabricInterface;
    for (const [name, t] of Object.entries(BUILTIN_TIERS)) this.tiers.set(name, t);
    for (const r of world.resources) this.index(r);
    for (const ep of world.endpoints) {
      for (const a of ep.addrs) this.endpointsByIp.set(canonicalIp(a), ep);
      this.effectiveLabels.set(ep, this.labelsOf(ep));
    }
  }

  /**
   * `at` names the endpoints (namespace/name) when an address alone does not (an anycast address
   * held by several workloads: `tabby explain` knows which one the route reached). `attribution`:
   * verdicts carry the tier, policy, rule index and rule that decided (for `tabby explain`).
   */
  evaluate(packet: EvalPacket, at: { src?: string; dst?: string } = {}, attribution = false): Evaluation {
    const byName = (n: string | undefined) => (n === undefined ? undefined : [...this.effectiveLabels.keys()].find((e) => `${e.namespace}/${e.name}` === n));
    const srcEp = byName(at.src) ?? this.endpointsByIp.get(canonicalIp(packet.src));
    const dstEp = byName(at.dst) ?? this.endpointsByIp.get(canonicalIp(packet.dst));
    const egress: Verdict = srcEp ? this.direction(srcEp, "Egress", packet) : { allowed: true, by: "source is not a workload" };
    let ingress: Verdict = dstEp ? this.direction(dstEp, "Ingress", packet) : { allowed: true, by: "destination is not a workload" };
    let fwdOut: Verdict | undefined;
    if (srcEp?.node !== undefined && dstEp?.node !== undefined && srcEp.node !== dstEp.node) {
      fwdOut = this.forward(srcEp.node, "Egress", packet);
      const fwdIn = this.forward(dstEp.node, "Ingress", packet);
      if (fwdIn && !fwdIn.allowed && ingress.allowed) ingress = fwdIn;
    }
    const out = fwdOut && !fwdOut.allowed && egress.allowed ? fwdOut : egress;
    const plain = (v: Verdict): Verdict => (attribution ? v : { allowed: v.allowed, by: v.by });
    return { allowed: out.allowed && ingress.allowed, egress: plain(out), ingress: plain(ingress) };
  }

  /** Forwarded traffic through `node`'s fabric interface: its host endpoint's applyOnForward policies. */
  private forward(node: string, dir: "Ingress" | "Egress", packet: EvalPacket): Verdict | undefined {
    const hep = this.hostEndpoints.find((h) => h.node === node && (h.interfaceName === this.fabricInterface || h.interfaceName === "*"));
    if (!hep) return undefined;
    const applying = this.policies.filter((p) => p.kindShort === "gnp" && p.applyOnForward && p.types.includes(dir) && p.selector.matches(hep.labels));
    if (!applying.length) return { allowed: true, by: `host endpoint ${hep.name}: no applyOnForward policy` };
    const v = this.walkTiers(applying, dir, packet, `host endpoint ${hep.name} forward `);
    return v ?? { allowed: false, by: `host endpoint ${hep.name}: no forward policy allowed it` };
  }

  /** The tiers of the applying policies, in order; undefined when every tier passed. */
  private walkTiers(applying: PolicyView[], dir: "Ingress" | "Egress", packet: EvalPacket, prefix = ""): Verdict | undefined {
    const tierNames = [...new Set(applying.map((p) => p.tier))].sort((a, b) => {
      const ta = this.tiers.get(a)?.order ?? Infinity;
      const tb = this.tiers.get(b)?.order ?? Infinity;
      return ta - tb || (a < b ? -1 : a > b ? 1 : 0);
    });
    for (const tierName of tierNames) {
      const inTier = applying.filter((p) => p.tier === tierName).sort((a, b) => a.order - b.order || policyKey(a).localeCompare(policyKey(b)));
      let passed = false;
      for (const p of inTier) {
        const rules = dir === "Ingress" ? p.ingress : p.egress;
        const hit = this.firstMatch(rules, packet, p);
        if (!hit) continue;
        const by = `${prefix}${p.kindShort} ${policyKey(p)} ${dir.toLowerCase()} rule ${hit.index + 1} (${hit.rule.action})`;
        const what = { tier: tierName, policy: `${p.kindShort} ${policyKey(p)}`, ruleIndex: hit.index + 1, rule: hit.rule };
        if (hit.rule.action === "Allow") return { allowed: true, by, ...what };
        if (hit.rule.action === "Deny") return { allowed: false, by, ...what };
        passed = true; // Pass: skip the rest of this tier
        break;
      }
      const tier = this.tiers.get(tierName) ?? { order: Infinity, defaultAction: "Deny" as const };
      if (!passed && tier.defaultAction === "Deny") return { allowed: false, by: `${prefix}end of tier ${tierName} (no policy allowed it)`, tier: tierName };
    }
    return undefined;
  }

  /** Tiers, then profiles, for one endpoint and direction (calico-spec §3.3). */
  private direction(ep: EvalEndpoint, dir: "Ingress" | "Egress", packet: EvalPacket): Verdict {
    const labels = this.effectiveLabels.get(ep)!;
    const applying = this.policies.filter(
      (p) => p.types.includes(dir) && (p.kindShort === "gnp" || p.namespace === ep.namespace) && p.selector.matches(labels),
    );
    const decided = this.walkTiers(applying, dir, packet);
    if (decided) return decided;
    for (const profName of ep.profiles) {
      const prof = this.profiles.get(profName);
      if (!prof) return { allowed: false, by: `profile ${profName} does not exist` };
      const spec = (prof.spec ?? {}) as { ingress?: Rule[]; egress?: Rule[] };
      const hit = this.firstMatch((dir === "Ingress" ? spec.ingress : spec.egress) ?? [], packet, undefined);
      if (!hit || hit.rule.action === "Pass") continue;
      const by = `profile ${profName} ${dir.toLowerCase()} rule ${hit.index + 1} (${hit.rule.action})`;
      const what = { policy: `profile ${profName}`, ruleIndex: hit.index + 1, rule: hit.rule };
      if (hit.rule.action === "Allow") return { allowed: true, by, ...what };
      if (hit.rule.action === "Deny") return { allowed: false, by, ...what };
    }
    return { allowed: false, by: ep.profiles.length ? "no profile allowed it" : "no policy or profile applies" };
  }

  private firstMatch(rules: Rule[], packet: EvalPacket, policy: PolicyView | undefined): { rule: Rule; index: number } | undefined {
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i]!;
      if (rule.action === "Log") continue;
      if (unenforceableCriteria(rule).length) continue; // never matches: the dataplane skips it too
      if (this.ruleMatches(rule, packet, policy)) return { rule, index: i };
    }
    return undefined;
  }

  private ruleMatches(rule: Rule, packet: EvalPacket, policy: PolicyView | undefined): boolean {
    const srcIp = tryParseIP(packet.src);
    const family = srcIp?.family ?? 4;
    if (rule.ipVersion !== undefined && rule.ipVersion !== family) return false;
    const proto = packetProtoNumber(packet.protocol, family);
    if (rule.protocol !== undefined && protoNumber(rule.protocol) !== proto) return false;
    if (rule.notProtocol !== undefined && protoNumber(rule.notProtocol) === proto) return false;
    if (rule.icmp?.type !== undefined) {
      const echo = family === 4 ? 8 : 128;
      if (packet.protocol !== "icmp" || rule.icmp.type !== echo || (rule.icmp.code !== undefined && rule.icmp.code !== 0)) return false;
    }
    if (rule.notICMP?.type !== undefined && packet.protocol === "icmp") {
      const echo = family === 4 ? 8 : 128;
      if (rule.notICMP.type === echo && (rule.notICMP.code === undefined || rule.notICMP.code === 0)) return false;
    }
    return (
      this.entityMatches(rule.source, packet.src, packet.srcPort, packet.protocol, policy) &&
      this.entityMatches(rule.destination, packet.dst, packet.dstPort, packet.protocol, policy)
    );
  }

  private entityMatches(e: EntityRule | undefined, ipText: string, port: number | undefined, protocol: EvalProtocol, policy: PolicyView | undefined): boolean {
    if (!e) return true;
    const ip = tryParseIP(ipText);
    if (!ip) return false;
    if (e.nets?.length && !e.nets.some((n) => parsePrefix(n).contains(ip))) return false;
    if (e.notNets?.length && e.notNets.some((n) => parsePrefix(n).contains(ip))) return false;
    const sel = this.effectiveSelector(e, policy);
    if (sel && !this.ipSelected(sel, ip)) return false;
    if (e.notSelector && this.ipSelected(this.selector(e.notSelector), ip)) return false;
    if (e.serviceAccounts?.names?.length) {
      const ep = this.endpointsByIp.get(ip.toString());
      if (!ep?.serviceAccount || !e.serviceAccounts.names.includes(ep.serviceAccount)) return false;
    }
    const ep = this.endpointsByIp.get(ip.toString());
    if (e.ports?.length && !e.ports.some((p) => portMatches(p, port, protocol, ep))) return false;
    if (e.notPorts?.length && e.notPorts.some((p) => portMatches(p, port, protocol, ep))) return false;
    return true;
  }

  /** calico-spec §3.2 getEndpointSelector: namespace scoping applies when any selector is set. */
  private effectiveSelector(e: EntityRule, policy: PolicyView | undefined): Selector | undefined {
    const parts: string[] = [];
    if (e.selector || e.notSelector || e.namespaceSelector) {
      if (e.namespaceSelector) parts.push(rewriteNamespaceSelector(e.namespaceSelector));
      else if (policy?.kindShort === "np") parts.push(`${NAMESPACE_LABEL} == "${policy.namespace}"`);
    }
    if (e.serviceAccounts?.selector) parts.push(parseSelector(e.serviceAccounts.selector).withLabelPrefix("pcsa.").toString());
    if (e.selector) parts.push(e.selector);
    if (!parts.length) return undefined;
    return this.selector(parts.map((p) => `(${p})`).join(" && "));
  }

  /** The selector's IP set: addresses of selected endpoints and nets of selected network sets. */
  private ipSelected(sel: Selector, ip: IP): boolean {
    const ep = this.endpointsByIp.get(ip.toString());
    if (ep && sel.matches(this.effectiveLabels.get(ep)!)) return true;
    for (const ns of this.netSets) {
      const labels = ns.namespace ? { ...ns.labels, [NAMESPACE_LABEL]: ns.namespace } : ns.labels;
      if (sel.matches(labels) && ns.nets.some((n) => parsePrefix(n).contains(ip))) return true;
    }
    return false;
  }

  private selector(text: string): Selector {
    let s = this.selectorCache.get(text);
    if (!s) {
      s = parseSelector(text);
      this.selectorCache.set(text, s);
    }
    return s;
  }

  /**
   * Effective labels: the endpoint's own win, then the first listed profile that has the label,
   * then the namespace profile `kns.<ns>` (inherited whether listed or not, as Calico's
   * Kubernetes conversion makes every endpoint carry its namespace's labels).
   */
  private labelsOf(ep: EvalEndpoint): Record<string, string> {
    const out: Record<string, string> = {};
    const profiles = [...ep.profiles, `kns.${ep.namespace}`];
    for (const p of profiles.reverse()) {
      const apply = (this.profiles.get(p)?.spec as { labelsToApply?: Record<string, string> } | undefined)?.labelsToApply;
      if (apply) Object.assign(out, apply);
    }
    Object.assign(out, ep.labels);
    out[NAMESPACE_LABEL] = ep.namespace;
    if (ep.serviceAccount) out["projectcalico.org/serviceaccount"] = ep.serviceAccount;
    return out;
  }

  private index(r: Resource): void {
    const spec = (r.spec ?? {}) as Record<string, unknown>;
    switch (r.kind) {
      case "Tier":
        this.tiers.set(r.metadata.name, {
          order: typeof spec["order"] === "number" ? spec["order"] : Infinity,
          defaultAction: spec["defaultAction"] === "Pass" ? "Pass" : "Deny",
        });
        return;
      case "Profile":
        this.profiles.set(r.metadata.name, r);
        return;
      case "NetworkSet":
      case "GlobalNetworkSet": {
        const set: { namespace?: string; labels: Record<string, string>; nets: string[] } = {
          labels: r.metadata.labels ?? {},
          nets: Array.isArray(spec["nets"]) ? (spec["nets"] as string[]) : [],
        };
        if (r.kind === "NetworkSet" && r.metadata.namespace) set.namespace = r.metadata.namespace;
        this.netSets.push(set);
        return;
      }
      case "NetworkPolicy":
      case "GlobalNetworkPolicy": {
        if (spec["preDNAT"] || spec["doNotTrack"]) return; // host endpoints only
        const ingress = (spec["ingress"] as Rule[] | undefined) ?? [];
        const egress = (spec["egress"] as Rule[] | undefined) ?? [];
        const types = (spec["types"] as ("Ingress" | "Egress")[] | undefined) ?? inferTypes(ingress, egress);
        let selText = typeof spec["selector"] === "string" && spec["selector"] ? spec["selector"] : "all()";
        if (r.kind === "GlobalNetworkPolicy" && typeof spec["namespaceSelector"] === "string" && spec["namespaceSelector"]) {
          selText = `(${selText}) && (${rewriteNamespaceSelector(spec["namespaceSelector"])})`;
        }
        const view: PolicyView = {
          kindShort: r.kind === "NetworkPolicy" ? "np" : "gnp",
          name: r.metadata.name,
          tier: typeof spec["tier"] === "string" && spec["tier"] ? spec["tier"] : "default",
          order: typeof spec["order"] === "number" ? spec["order"] : Infinity,
          selector: this.selector(selText),
          types,
          applyOnForward: spec["applyOnForward"] === true,
          ingress,
          egress,
          spec,
        };
        if (r.metadata.namespace) view.namespace = r.metadata.namespace;
        this.policies.push(view);
        return;
      }
      default:
        return;
    }
  }
}

/** Calico's inference when `types` is absent. */
export function inferTypes(ingress: Rule[], egress: Rule[]): ("Ingress" | "Egress")[] {
  if (egress.length && ingress.length) return ["Ingress", "Egress"];
  if (egress.length) return ["Egress"];
  return ["Ingress"];
}

function policyKey(p: PolicyView): string {
  return p.namespace ? `${p.namespace}/${p.name}` : p.name;
}

function canonicalIp(text: string): string {
  return tryParseIP(text.split("/")[0]!)?.toString() ?? text;
}

function protoNumber(p: string | number): number {
  return typeof p === "number" ? p : (PROTO_NUM[p] ?? -1);
}

function packetProtoNumber(p: EvalProtocol, family: 4 | 6): number {
  return p === "tcp" ? 6 : p === "udp" ? 17 : family === 4 ? 1 : 58;
}

function portMatches(p: Port, port: number | undefined, protocol: EvalProtocol, ep: EvalEndpoint | undefined): boolean {
  if (port === undefined) return false;
  if (typeof p === "number") return p === port;
  const range = /^(\d+):(\d+)$/.exec(p);
  if (range) return port >= Number(range[1]) && port <= Number(range[2]);
  if (/^\d+$/.test(p)) return Number(p) === port;
  // A named port: resolved against the endpoint that owns the address.
  return (ep?.ports ?? []).some((np) => np.name === p && np.port === port && (np.protocol ?? "TCP").toLowerCase() === protocol);
}
