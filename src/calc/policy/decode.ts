/**
 * Decoding datastore key/value pairs into the calculation graph's inputs, like felix's
 * ValidationFilter: a value that does not decode or validate counts as a deletion (existence is
 * decided by the value, never by the kind of update). Keys follow Calico's etcd v3 layout
 * (src/model/keys.ts). Policies, profiles, tiers, network sets and host endpoints go through
 * the model's full validation (src/model), which also applies Calico's defaults (tier `default`,
 * inferred `types`); workload endpoints, by far the most numerous, are decoded by a lighter
 * structural check of the fields the graph reads.
 *
 * Labels every endpoint carries, as Calico's conversions set them: `projectcalico.org/namespace`
 * (namespaced objects), `projectcalico.org/orchestrator`, `projectcalico.org/serviceaccount`
 * (from spec.serviceAccountName).
 * Pure: no I/O.
 */
import { KINDS, RESOURCE_ROOT } from "../../model/keys.js";
import { decodeStored, type StoredObject } from "../../model/stored.js";
// validate.js itself, not the model/index.js barrel, which loads the YAML manifest code (idle memory, issue #15).
import { validateResource } from "../../model/validate.js";
import type { GlobalNetworkPolicySpec, HostEndpointSpec, NetworkPolicySpec, NetworkSetSpec, ProfileSpec, Resource, Rule, TierSpec } from "../../model/index.js";
import { NAMESPACE_LABEL } from "../../selector/index.js";
import { tryParsePrefix } from "../../net/index.js";

export const SERVICE_ACCOUNT_LABEL = "projectcalico.org/serviceaccount";
export const ORCHESTRATOR_LABEL = "projectcalico.org/orchestrator";

export type Labels = Record<string, string>;

export interface NamedPort {
  name: string;
  protocol: "tcp" | "udp" | "sctp";
  port: number;
}

/** What the graph needs of a WorkloadEndpoint or HostEndpoint. */
export interface EndpointData {
  key: string;
  kind: "wep" | "hep";
  /** HostEndpoint name, or the WorkloadEndpoint's datastore key. */
  id: string;
  namespace?: string;
  node: string;
  iface: string;
  labels: Labels;
  /** Profiles the endpoint lists (rules and labelsToApply, in order). */
  profiles: string[];
  /** Profiles whose labels are inherited (listed ones, then the implicit kns./ksa. ones). */
  labelParents: string[];
  /** True when `labels` is a fresh object nobody else holds (a label index may adopt it). */
  ownedLabels?: boolean;
  /** Addresses as CIDRs ("10.0.0.1/32"): ipNetworks, or a HostEndpoint's expectedIPs. */
  nets: string[];
  ports: NamedPort[];
  allowSpoofedSources: string[];
}

export interface NetworkSetData {
  key: string;
  namespace?: string;
  labels: Labels;
  labelParents: string[];
  nets: string[];
}

export interface PolicyData {
  /** "np/<ns>/<name>" or "gnp/<name>". */
  id: string;
  kind: "NetworkPolicy" | "GlobalNetworkPolicy";
  name: string;
  namespace?: string;
  tier: string;
  order: number | undefined;
  spec: GlobalNetworkPolicySpec;
}

export type Decoded =
  | { kind: "WorkloadEndpoint" | "HostEndpoint"; key: string; value?: EndpointData }
  | { kind: "NetworkSet" | "GlobalNetworkSet"; key: string; value?: NetworkSetData }
  | { kind: "NetworkPolicy" | "GlobalNetworkPolicy"; key: string; id: string; value?: PolicyData }
  | { kind: "Profile"; key: string; name: string; value?: ProfileSpec }
  | { kind: "Tier"; key: string; name: string; value?: TierSpec }
  | { kind: "FelixConfiguration"; key: string; name: string; value?: Record<string, unknown> }
  | { kind: "IPPool"; key: string; name: string; value?: { cidr: string; natOutgoing: boolean } }
  | { kind: "Node"; key: string; name: string; value?: { addrs: string[] } }
  | { kind: "BGPConfiguration"; key: string; name: string; value?: { listenPort?: number } };

/** The namespace profile Calico's Kubernetes conversion makes for each namespace. */
export const namespaceProfile = (ns: string): string => `kns.${ns}`;
/** The service-account profile Calico's Kubernetes conversion makes for each service account. */
export const serviceAccountProfile = (ns: string, sa: string): string => `ksa.${ns}.${sa}`;

export function policyId(kind: string, name: string, namespace?: string): string {
  return kind === "NetworkPolicy" ? `np/${namespace}/${name}` : `gnp/${name}`;
}
export const profileId = (name: string): string => `pro/${name}`;

function parseValue(value: string | object | undefined): Record<string, unknown> | undefined {
  return decodeStored(value as string | StoredObject | undefined);
}

function validated(obj: Record<string, unknown> | undefined, kind: string, name: string, namespace?: string): Resource | undefined {
  if (!obj) return undefined;
  try {
    // "stored": a rule tabby cannot enforce keeps its policy (the compiler skips just that rule)
    const r = validateResource(obj, {}, { stored: true });
    if (r.kind !== kind || r.metadata.name !== name || (r.metadata.namespace ?? undefined) !== namespace) return undefined;
    return r;
  } catch {
    return undefined;
  }
}

/**
 * True for "a.b.c.d/32" in canonical dotted-quad form (each part 0-255, no leading zero): the
 * form nearly every WorkloadEndpoint address has, checked without allocating (no regex match).
 */
export function isV4HostCidr(s: string): boolean {
  const n = s.length;
  if (n < 10 || n > 18 || s.charCodeAt(n - 3) !== 0x2f || s.charCodeAt(n - 2) !== 0x33 || s.charCodeAt(n - 1) !== 0x32) return false;
  let parts = 0;
  let i = 0;
  const end = n - 3;
  while (i < end) {
    const start = i;
    let v = 0;
    while (i < end) {
      const c = s.charCodeAt(i);
      if (c < 0x30 || c > 0x39) break;
      v = v * 10 + (c - 0x30);
      i++;
    }
    const len = i - start;
    if (len === 0 || len > 3 || v > 255 || (len > 1 && s.charCodeAt(start) === 0x30)) return false;
    parts++;
    if (i < end) {
      if (s.charCodeAt(i) !== 0x2e || parts === 4) return false;
      i++;
      if (i === end) return false;
    }
  }
  return parts === 4;
}

/** An address or CIDR as a CIDR string: "10.0.0.1" → "10.0.0.1/32"; host bits kept. */
export function asCidr(s: string): string | undefined {
  if (isV4HostCidr(s)) return s;
  if (s.includes("/")) return tryParsePrefix(s) ? s : undefined;
  const p = tryParsePrefix(s);
  return p ? p.toString() : undefined;
}

function normNet(s: string): string | undefined {
  const p = tryParsePrefix(s);
  return p ? p.network().toString() : undefined;
}

const NONE: string[] = [];
/** The strings of a list (the list itself when it is all strings: no copy). */
const strings = (v: unknown): string[] => {
  if (!Array.isArray(v) || v.length === 0) return NONE;
  for (const x of v) if (typeof x !== "string") return v.filter((y): y is string => typeof y === "string");
  return v as string[];
};

function labelsOf(meta: Record<string, unknown>): Labels {
  const l = meta["labels"];
  const out: Labels = {};
  if (l && typeof l === "object") for (const [k, v] of Object.entries(l)) if (typeof v === "string") out[k] = v;
  return out;
}

function protoName(p: unknown): "tcp" | "udp" | "sctp" | undefined {
  if (p === "TCP" || p === 6 || p === "6") return "tcp";
  if (p === "UDP" || p === 17 || p === "17") return "udp";
  if (p === "SCTP" || p === 132 || p === "132") return "sctp";
  return undefined;
}

const NO_PORTS: NamedPort[] = [];

function portsOf(v: unknown): NamedPort[] {
  if (!Array.isArray(v) || v.length === 0) return NO_PORTS;
  const out: NamedPort[] = [];
  for (const p of v) {
    if (!p || typeof p !== "object") continue;
    const { name, protocol, port } = p as Record<string, unknown>;
    const proto = protoName(protocol);
    if (typeof name === "string" && name !== "" && proto && typeof port === "number") out.push({ name, protocol: proto, port });
  }
  return out;
}

function parents(listed: string[], namespace: string | undefined, sa: string | undefined): string[] {
  if (namespace === undefined) return listed;
  if (sa === undefined && listed.includes(namespaceProfile(namespace))) return listed;
  const out = [...listed];
  if (namespace !== undefined) {
    const ns = namespaceProfile(namespace);
    if (!out.includes(ns)) out.push(ns);
    if (sa) {
      const s = serviceAccountProfile(namespace, sa);
      if (!out.includes(s)) out.push(s);
    }
  }
  return out;
}

function allStrings(o: Record<string, unknown>): boolean {
  for (const k in o) if (typeof o[k] !== "string") return false;
  return true;
}

function decodeWorkloadEndpoint(key: string, namespace: string, obj: Record<string, unknown> | undefined, parsedHere: boolean): EndpointData | undefined {
  if (obj?.["kind"] !== "WorkloadEndpoint") return undefined;
  const spec = obj["spec"] as Record<string, unknown> | undefined;
  const meta = obj["metadata"] as Record<string, unknown> | undefined;
  if (!spec || typeof spec !== "object" || !meta || typeof meta !== "object") return undefined;
  const node = spec["node"];
  const iface = spec["interfaceName"];
  if (typeof node !== "string" || node === "" || typeof iface !== "string" || iface === "") return undefined;
  const given = strings(spec["ipNetworks"]);
  let nets = given;
  for (let i = 0; i < given.length; i++) {
    const c = asCidr(given[i]!);
    if (c === undefined) return undefined;
    if (c !== given[i]) {
      if (nets === given) nets = given.slice();
      nets[i] = c;
    }
  }
  // A labels object JSON.parse made here is exactly sized: keep it (if it is all strings).
  const raw = meta["labels"];
  const reuse = parsedHere && raw !== null && typeof raw === "object" && !Array.isArray(raw) && allStrings(raw as Record<string, unknown>);
  const labels = reuse ? (raw as Labels) : labelsOf(meta);
  if (labels[NAMESPACE_LABEL] !== namespace) labels[NAMESPACE_LABEL] = namespace;
  if (typeof spec["orchestrator"] === "string" && labels[ORCHESTRATOR_LABEL] !== spec["orchestrator"]) labels[ORCHESTRATOR_LABEL] = spec["orchestrator"];
  const sa = typeof spec["serviceAccountName"] === "string" && spec["serviceAccountName"] !== "" ? spec["serviceAccountName"] : undefined;
  if (sa !== undefined) labels[SERVICE_ACCOUNT_LABEL] ??= sa;
  const profiles = strings(spec["profiles"]);
  return {
    key,
    kind: "wep",
    id: key,
    namespace,
    node,
    iface,
    labels,
    ownedLabels: reuse,
    profiles,
    labelParents: parents(profiles, namespace, sa),
    nets,
    ports: portsOf(spec["ports"]),
    allowSpoofedSources: strings(spec["allowSpoofedSourcePrefixes"]),
  };
}

const BY_PLURAL = new Map(Object.entries(KINDS).map(([kind, v]) => [v.plural, { kind, namespaced: v.namespaced }]));

/** Like model/keys.ts parseResourceKey, with a plural lookup table (this runs per update). */
const WEP_ROOT = `${RESOURCE_ROOT}${KINDS["WorkloadEndpoint"]!.plural}/`;

export function parseKey(key: string): { kind: string; name: string; namespace?: string } | undefined {
  if (key.startsWith(WEP_ROOT)) {
    // The most numerous kind: no lookup of its plural.
    const a = WEP_ROOT.length - 1;
    const b = key.indexOf("/", a + 1);
    if (b === -1 || key.indexOf("/", b + 1) !== -1 || b === a + 1 || b === key.length - 1) return undefined;
    return { kind: "WorkloadEndpoint", namespace: key.slice(a + 1, b), name: key.slice(b + 1) };
  }
  if (!key.startsWith(RESOURCE_ROOT)) return undefined;
  const a = key.indexOf("/", RESOURCE_ROOT.length);
  if (a === -1) return undefined;
  const info = BY_PLURAL.get(key.slice(RESOURCE_ROOT.length, a));
  if (!info) return undefined;
  const b = key.indexOf("/", a + 1);
  if (info.namespaced) {
    if (b === -1 || key.indexOf("/", b + 1) !== -1 || b === a + 1 || b === key.length - 1) return undefined;
    return { kind: info.kind, namespace: key.slice(a + 1, b), name: key.slice(b + 1) };
  }
  if (b !== -1 || a === key.length - 1) return undefined;
  return { kind: info.kind, name: key.slice(a + 1) };
}

/** Decodes one datastore update; undefined when the key is not one the policy graph reads. */
/**
 * Decodes one datastore change. `owned`: the object is the graph's to keep and change (it was
 * parsed from text for this call alone: the graph then adopts its labels instead of copying them).
 */
export function decodeUpdate(key: string, value: string | object | undefined, owned = typeof value === "string"): Decoded | undefined {
  const rk = parseKey(key);
  if (!rk) return undefined;
  const { kind, name, namespace } = rk;
  switch (kind) {
    case "WorkloadEndpoint":
      return { kind, key, value: decodeWorkloadEndpoint(key, namespace!, parseValue(value), owned) };
    case "HostEndpoint": {
      const r = validated(parseValue(value), kind, name);
      if (!r) return { kind, key };
      const spec = r.spec as HostEndpointSpec;
      const profiles = spec.profiles ?? [];
      const ep: EndpointData = {
        key,
        kind: "hep",
        id: name,
        node: spec.node ?? "",
        iface: spec.interfaceName ?? "",
        labels: { ...r.metadata.labels },
        profiles,
        labelParents: profiles,
        nets: (spec.expectedIPs ?? []).map((ip) => asCidr(ip)!),
        ports: portsOf(spec.ports),
        allowSpoofedSources: [],
      };
      return { kind, key, value: ep };
    }
    case "NetworkSet":
    case "GlobalNetworkSet": {
      const r = validated(parseValue(value), kind, name, namespace);
      if (!r) return { kind, key };
      const labels: Labels = { ...r.metadata.labels };
      if (namespace !== undefined) labels[NAMESPACE_LABEL] = namespace;
      const nets = ((r.spec as NetworkSetSpec).nets ?? []).map((n) => normNet(n)!);
      return { kind, key, value: { key, ...(namespace !== undefined ? { namespace } : {}), labels, labelParents: parents([], namespace, undefined), nets } };
    }
    case "NetworkPolicy":
    case "GlobalNetworkPolicy": {
      const id = policyId(kind, name, namespace);
      const r = validated(parseValue(value), kind, name, namespace);
      if (!r) return { kind, key, id };
      const spec = r.spec as NetworkPolicySpec;
      const p: PolicyData = { id, kind, name, tier: spec.tier ?? "default", order: spec.order, spec: spec as GlobalNetworkPolicySpec };
      if (namespace !== undefined) p.namespace = namespace;
      return { kind, key, id, value: p };
    }
    case "Profile": {
      const r = validated(parseValue(value), kind, name);
      return { kind, key, name, ...opt(r?.spec as ProfileSpec | undefined) };
    }
    case "Tier": {
      const r = validated(parseValue(value), kind, name);
      return { kind, key, name, ...opt(r?.spec as TierSpec | undefined) };
    }
    case "FelixConfiguration": {
      const obj = parseValue(value);
      const spec = obj?.["spec"];
      return { kind, key, name, ...opt(spec && typeof spec === "object" ? (spec as Record<string, unknown>) : obj ? {} : undefined) };
    }
    case "IPPool": {
      // Only what natOutgoing needs; a pool without a usable CIDR counts as absent.
      const spec = parseValue(value)?.["spec"] as { cidr?: unknown; natOutgoing?: unknown } | undefined;
      const cidr = typeof spec?.cidr === "string" ? normNet(spec.cidr) : undefined;
      return { kind, key, name, ...opt(cidr ? { cidr, natOutgoing: spec?.natOutgoing === true } : undefined) };
    }
    case "Node": {
      // Every address the node is known by: BGP, `addresses`, tunnel and WireGuard addresses.
      const spec = parseValue(value)?.["spec"] as Record<string, unknown> | undefined;
      if (!spec || typeof spec !== "object") return { kind, key, name };
      return { kind, key, name, value: { addrs: nodeAddrs(spec) } };
    }
    case "BGPConfiguration": {
      const obj = parseValue(value);
      if (!obj) return { kind, key, name };
      const port = (obj["spec"] as Record<string, unknown> | undefined)?.["listenPort"];
      return { kind, key, name, value: typeof port === "number" && Number.isInteger(port) && port >= 1 && port <= 65535 ? { listenPort: port } : {} };
    }
    default:
      return undefined;
  }
}

/** A Node's addresses without length, canonical, both families, sorted. */
export function nodeAddrs(spec: Record<string, unknown>): string[] {
  const out = new Set<string>();
  const add = (v: unknown) => {
    if (typeof v !== "string") return;
    const p = tryParsePrefix(v);
    if (p) out.add(p.addr.toString());
  };
  const bgp = spec["bgp"] as Record<string, unknown> | undefined;
  if (bgp && typeof bgp === "object") for (const f of ["ipv4Address", "ipv6Address", "ipv4IPIPTunnelAddr"]) add(bgp[f]);
  for (const f of ["ipv4VXLANTunnelAddr", "ipv6VXLANTunnelAddr"]) add(spec[f]);
  const wg = spec["wireguard"] as Record<string, unknown> | undefined;
  if (wg && typeof wg === "object") for (const f of ["interfaceIPv4Address", "interfaceIPv6Address"]) add(wg[f]);
  if (Array.isArray(spec["addresses"])) for (const a of spec["addresses"]) if (a && typeof a === "object") add((a as Record<string, unknown>)["address"]);
  return [...out].sort();
}

function opt<T>(value: T | undefined): { value?: T } {
  return value === undefined ? {} : { value };
}

export type { Rule };
