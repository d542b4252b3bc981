/**
 * Compiles Calico v3 rules into the dataplane's RuleMatch (src/calc/policy-output.ts), turning
 * selectors and named ports into IP set references:
 * - the effective selector of each side follows libcalico-go `updateprocessors/rules.go`
 *   `getEndpointSelector`: a `namespaceSelector` becomes a `pcns.`-prefixed selector with
 *   `all()` → `has(projectcalico.org/namespace)` and `global()` → `!has(projectcalico.org/namespace)`;
 *   otherwise a namespaced policy scopes to `projectcalico.org/namespace == '<ns>'`; service
 *   accounts become `pcsa.`-prefixed selectors ANDed with
 *   `projectcalico.org/serviceaccount in {names}`; the namespace scope applies only when a
 *   selector, notSelector, namespaceSelector or service-account match is present (a rule with
 *   only nets is not namespace-limited); `notSelector` itself is never namespace-scoped;
 * - then as felix's `RuleScanner` (`felix/calc/rule_scanner.go`): a positive selector absorbs the
 *   negative one (`(pos) && (!(neg))`); named ports become ip-port sets of the positive selector
 *   (or `all()`), protocol from the rule (UDP, SCTP, else TCP), id `n:` hash of
 *   "<selector id>,<proto>,<port name>"; a side's selector set is left out when named ports, and
 *   no numeric ports, cover it;
 * - actions lower-cased, Pass → "pass"; protocols to numbers; nets normalised to networks.
 * Pure: no I/O.
 */
import { createHash } from "node:crypto";
import { makeUniqueId, parseSelector, rewriteNamespaceSelector, NAMESPACE_LABEL, SERVICE_ACCOUNT_LABEL_PREFIX, type Selector } from "../../selector/index.js";
import { unenforceableCriteria, type EntityRule, type Port, type Protocol, type Rule } from "../../model/rules.js";
import type { CompiledRule, PortRange, RuleAction, RuleMatch } from "../policy-output.js";
import { SERVICE_ACCOUNT_LABEL } from "./decode.js";
import { tryParsePrefix } from "../../net/index.js";

/** An IP set a rule needs: the selector's members, or their addresses on a named port. */
export interface IpSetSpec {
  id: string;
  selector: Selector;
  namedPort?: { name: string; protocol: "tcp" | "udp" | "sctp" };
}

export interface CompiledRules {
  ingress: CompiledRule[];
  egress: CompiledRule[];
  /** Every IP set the rules use, by id. */
  ipSets: Map<string, IpSetSpec>;
}

const PROTOCOLS: Record<string, number> = { TCP: 6, UDP: 17, ICMP: 1, ICMPv6: 58, SCTP: 132, UDPLite: 136 };

export function protocolNumber(p: Protocol): number {
  return typeof p === "number" ? p : (PROTOCOLS[p] ?? Number(p));
}

const selectorCache = new Map<string, Selector>();
/** Parses selector text, memoised (the same selector texts recur across policies and updates). */
export function cachedSelector(text: string): Selector {
  let s = selectorCache.get(text);
  if (!s) {
    s = parseSelector(text);
    if (selectorCache.size > 50_000) selectorCache.clear();
    selectorCache.set(text, s);
  }
  return s;
}

function canonical(text: string): string {
  return cachedSelector(text).toString();
}

function serviceAccountSelector(sa: { names?: string[]; selector?: string } | undefined): string {
  if (!sa) return "";
  let out = "";
  if (sa.selector) out = cachedSelector(sa.selector).withLabelPrefix(SERVICE_ACCOUNT_LABEL_PREFIX).toString();
  if (!sa.names?.length) return out;
  const names = canonical(`${SERVICE_ACCOUNT_LABEL} in { ${sa.names.map((n) => `'${n}'`).join(", ")} }`);
  return out ? `(${out}) && (${names})` : names;
}

/** The selector text of one side of a rule (Calico's getEndpointSelector), "" for none. */
export function entitySelector(e: EntityRule | undefined, namespace: string | undefined): string {
  if (!e) return "";
  let nsSel = "";
  if (e.namespaceSelector) nsSel = rewriteNamespaceSelector(e.namespaceSelector);
  else if (namespace) nsSel = `${NAMESPACE_LABEL} == '${namespace}'`;
  const parts: string[] = [];
  const saSel = serviceAccountSelector(e.serviceAccounts);
  if (saSel) parts.push(saSel);
  if (e.selector) parts.push(e.selector);
  let sel = parts.length === 0 ? "" : parts.length === 1 ? parts[0]! : `(${parts.join(") && (")})`;
  if (nsSel && (sel || e.notSelector || e.namespaceSelector)) sel = sel ? `(${nsSel}) && (${sel})` : nsSel;
  return sel;
}

function portRange(p: Port): PortRange | undefined {
  if (typeof p === "number") return { first: p, last: p };
  const m = /^(\d+)(?::(\d+))?$/.exec(p);
  if (!m) return undefined;
  const first = Number(m[1]);
  return { first, last: m[2] === undefined ? first : Number(m[2]) };
}

function splitPorts(ports: Port[] | undefined): { numeric: PortRange[]; named: string[] } {
  const numeric: PortRange[] = [];
  const named: string[] = [];
  for (const p of ports ?? []) {
    const r = portRange(p);
    if (r) numeric.push(r);
    else named.push(p as string);
  }
  return { numeric, named };
}

function nets(list: string[] | undefined): string[] | undefined {
  if (!list?.length) return undefined;
  return list.map((n) => tryParsePrefix(n)?.network().toString() ?? n);
}

function namedPortProtocol(p: Protocol | undefined): "tcp" | "udp" | "sctp" {
  if (p === undefined) return "tcp";
  const n = protocolNumber(p);
  return n === 17 ? "udp" : n === 132 ? "sctp" : "tcp";
}

const ACTIONS: Record<Rule["action"], RuleAction> = { Allow: "allow", Deny: "deny", Pass: "pass", Log: "log" };

function ruleId(owner: string, dir: string, index: number, match: RuleMatch, action: string): string {
  return createHash("sha224")
    .update(`${owner}|${dir}|${index}|${action}|${JSON.stringify(match)}`)
    .digest("base64url")
    .slice(0, 16);
}

export class RuleCompiler {
  constructor(private readonly ipSets: Map<string, IpSetSpec>) {}

  private selectorSet(text: string): string {
    const sel = cachedSelector(text);
    const id = sel.uniqueId();
    if (!this.ipSets.has(id)) this.ipSets.set(id, { id, selector: sel });
    return id;
  }

  private namedPortSet(selText: string, name: string, protocol: "tcp" | "udp" | "sctp"): string {
    const sel = cachedSelector(selText || "all()");
    const id = makeUniqueId("n", `${sel.uniqueId()},${protocol},${name}`);
    if (!this.ipSets.has(id)) this.ipSets.set(id, { id, selector: sel, namedPort: { name, protocol } });
    return id;
  }

  compile(rule: Rule, namespace: string | undefined, owner: string, dir: string, index: number): CompiledRule {
    const m: RuleMatch = {};
    if (rule.ipVersion !== undefined) m.ipVersion = rule.ipVersion;
    if (rule.protocol !== undefined) m.protocol = protocolNumber(rule.protocol);
    if (rule.notProtocol !== undefined) m.notProtocol = protocolNumber(rule.notProtocol);
    const proto = namedPortProtocol(rule.protocol);
    for (const side of ["source", "destination"] as const) {
      const e = rule[side];
      const pre = side === "source" ? "src" : "dst";
      let pos = entitySelector(e, namespace);
      let neg = e?.notSelector ?? "";
      if (pos && neg) {
        pos = `(${pos}) && (!(${neg}))`;
        neg = "";
      }
      const ports = splitPorts(e?.ports);
      const notPorts = splitPorts(e?.notPorts);
      const n = nets(e?.nets);
      const nn = nets(e?.notNets);
      if (n) m[`${pre}Nets`] = n;
      if (nn) m[`not${side === "source" ? "Src" : "Dst"}Nets`] = nn;
      if (pos && (ports.numeric.length > 0 || ports.named.length === 0)) m[`${pre}IpSets`] = [this.selectorSet(pos)];
      if (neg) m[`not${side === "source" ? "Src" : "Dst"}IpSets`] = [this.selectorSet(neg)];
      if (ports.numeric.length) m[`${pre}Ports`] = ports.numeric;
      if (notPorts.numeric.length) m[`not${side === "source" ? "Src" : "Dst"}Ports`] = notPorts.numeric;
      if (ports.named.length) m[`${pre}NamedPortIpSets`] = ports.named.map((p) => this.namedPortSet(pos, p, proto));
      if (notPorts.named.length) m[`not${side === "source" ? "Src" : "Dst"}NamedPortIpSets`] = notPorts.named.map((p) => this.namedPortSet(pos, p, proto));
    }
    if (rule.icmp?.type !== undefined) m.icmpType = rule.icmp.type;
    if (rule.icmp?.code !== undefined) m.icmpCode = rule.icmp.code;
    if (rule.notICMP?.type !== undefined) m.notIcmpType = rule.notICMP.type;
    if (rule.notICMP?.code !== undefined) m.notIcmpCode = rule.notICMP.code;
    const action = ACTIONS[rule.action];
    return { match: m, action, id: ruleId(owner, dir, index, m, action) };
  }
}

/**
 * Compiles a policy's or profile's rules. `namespace` is the NetworkPolicy's namespace (scopes
 * its rule selectors), undefined for global policies and profiles.
 */
export function compileRules(owner: string, ingress: Rule[], egress: Rule[], namespace: string | undefined): CompiledRules {
  const ipSets = new Map<string, IpSetSpec>();
  const c = new RuleCompiler(ipSets);
  // Fail closed: a rule with criteria the dataplane cannot enforce (http, services) is skipped,
  // whatever its action, as Calico's Felix skips rules it cannot render; enforcing the rest of it
  // would widen an Allow. The agent reports such rules (unenforceableRulesOf).
  const compileAll = (rules: Rule[], dir: string) => rules.flatMap((r, i) => (unenforceableCriteria(r).length ? [] : [c.compile(r, namespace, owner, dir, i)]));
  return { ingress: compileAll(ingress, "in"), egress: compileAll(egress, "out"), ipSets };
}

/** The rules Calico puts in place of a profile that does not exist: deny everything. */
export function denyAllRules(owner: string): CompiledRules {
  return {
    ingress: [{ match: {}, action: "deny", id: ruleId(owner, "in", 0, {}, "deny") }],
    egress: [{ match: {}, action: "deny", id: ruleId(owner, "out", 0, {}, "deny") }],
    ipSets: new Map(),
  };
}

/**
 * The selector a policy applies to, as Calico's policy update processors build it: a
 * NetworkPolicy's selector ANDed with its namespace; a GlobalNetworkPolicy's ANDed with its
 * rewritten namespaceSelector; either ANDed with the `pcsa.`-prefixed serviceAccountSelector.
 */
export function policySelector(
  spec: { selector?: string; namespaceSelector?: string; serviceAccountSelector?: string },
  namespace: string | undefined,
): Selector {
  let sel = spec.selector?.trim() ? spec.selector : "all()";
  if (namespace !== undefined) sel = `(${NAMESPACE_LABEL} == '${namespace}') && (${sel})`;
  else if (spec.namespaceSelector?.trim()) sel = `(${sel}) && (${rewriteNamespaceSelector(spec.namespaceSelector)})`;
  if (spec.serviceAccountSelector?.trim()) {
    sel = `(${sel}) && (${cachedSelector(spec.serviceAccountSelector).withLabelPrefix(SERVICE_ACCOUNT_LABEL_PREFIX).toString()})`;
  }
  return cachedSelector(sel);
}
