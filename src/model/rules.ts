/**
 * Policy rules (Calico v3 `Rule` / `EntityRule`, used by Profiles here and by policies later),
 * with libcalico-go's `validateRule` checks: action Allow|Deny|Log|Pass; protocol by name or
 * 1–255; ports only with TCP/UDP/SCTP; ICMP fields only with ICMP/ICMPv6 and code only with a
 * type (icmp and notICMP alike); a rule's CIDRs all of one family, matching `ipVersion` when set;
 * selectors parsed with Calico's grammar; service account names non-empty.
 * Pure: no I/O.
 */
import { arrayOf, cidrField, int, isPlainObject, describe, object, oneOf, selectorField, str, type Field } from "./check.js";
import { tryParsePrefix } from "../net/index.js";
import type { FieldError } from "./errors.js";

export type Protocol = "TCP" | "UDP" | "ICMP" | "ICMPv6" | "SCTP" | "UDPLite" | number;
/** A port number, a "min:max" range, or a named port. */
export type Port = number | string;

export interface EntityRule {
  nets?: string[];
  notNets?: string[];
  selector?: string;
  notSelector?: string;
  namespaceSelector?: string;
  ports?: Port[];
  notPorts?: Port[];
  serviceAccounts?: { names?: string[]; selector?: string };
  services?: { name?: string; namespace?: string };
}
export interface ICMPFields {
  type?: number;
  code?: number;
}
export interface Rule {
  action: "Allow" | "Deny" | "Log" | "Pass";
  ipVersion?: 4 | 6;
  protocol?: Protocol;
  notProtocol?: Protocol;
  icmp?: ICMPFields;
  notICMP?: ICMPFields;
  source?: EntityRule;
  destination?: EntityRule;
  http?: HTTPMatch;
  metadata?: { annotations?: Record<string, string> };
}
/** Calico's HTTPMatch (application layer; enforced by Calico only with its L7 proxy). */
export interface HTTPMatch {
  methods?: string[];
  paths?: { exact?: string; prefix?: string }[];
}

const PROTOCOL_NAMES = ["TCP", "UDP", "ICMP", "ICMPv6", "SCTP", "UDPLite"];
export const protocolField: Field<Protocol> = (v, path, c) => {
  if (typeof v === "number") return int(1, 255)(v, path, c);
  if (typeof v === "string" && PROTOCOL_NAMES.includes(v)) return v as Protocol;
  if (typeof v === "string" && /^\d+$/.test(v)) return int(1, 255)(Number(v), path, c);
  c.error(path, `must be one of ${PROTOCOL_NAMES.join(", ")} or a number 1-255, got ${describe(v)}`);
  return undefined;
};

function supportsPorts(p: Protocol | undefined): boolean {
  return p === "TCP" || p === "UDP" || p === "SCTP" || p === 6 || p === 17 || p === 132;
}

export const portField: Field<Port> = (v, path, c) => {
  if (typeof v === "number") return int(1, 65535)(v, path, c);
  if (typeof v === "string") {
    const m = /^(\d+)(?::(\d+))?$/.exec(v);
    if (m) {
      const lo = Number(m[1]);
      const hi = m[2] === undefined ? lo : Number(m[2]);
      if (lo < 1 || hi > 65535 || lo > hi) return void c.error(path, `must be a port 1-65535 or a range "min:max" with min <= max, got ${describe(v)}`);
      return m[2] === undefined ? lo : v;
    }
    if (/^[a-zA-Z0-9]([-a-zA-Z0-9_.]{0,61}[a-zA-Z0-9])?$/.test(v)) return v;
  }
  c.error(path, `must be a port number, a "min:max" range or a port name, got ${describe(v)}`);
  return undefined;
};

const icmp = object<ICMPFields>({ type: int(0, 254), code: int(0, 255) });

const entityRule = object<EntityRule>({
  nets: arrayOf(cidrField()),
  notNets: arrayOf(cidrField()),
  selector: selectorField,
  notSelector: selectorField,
  namespaceSelector: selectorField,
  ports: arrayOf(portField),
  notPorts: arrayOf(portField),
  serviceAccounts: object<{ names?: string[]; selector?: string }>({
    names: arrayOf((v, p, c) => {
      const s = str(v, p, c);
      return s === "" ? void c.error(p, "must not be empty") : s;
    }),
    selector: selectorField,
  }),
  services: object<{ name?: string; namespace?: string }>({ name: str, namespace: str }),
});

const ruleSchema = object<Rule>({
  action: oneOf(["Allow", "Deny", "Log", "Pass"] as const),
  ipVersion: (v, p, c) => {
    if (v === 4 || v === 6) return v;
    return void c.error(p, `must be 4 or 6, got ${describe(v)}`);
  },
  protocol: protocolField,
  notProtocol: protocolField,
  icmp,
  notICMP: icmp,
  source: entityRule,
  destination: entityRule,
  http: object<HTTPMatch>({
    methods: arrayOf(str),
    paths: arrayOf((v, p, c) => {
      const m = object<{ exact?: string; prefix?: string }>({ exact: str, prefix: str })(v, p, c);
      if (m && (m.exact === undefined) === (m.prefix === undefined)) c.error(p, "must set exactly one of exact and prefix");
      return m;
    }),
  }),
  metadata: object<{ annotations?: Record<string, string> }>({
    annotations: (v, p, c) => (isPlainObject(v) ? (v as Record<string, string>) : void c.error(p, "must be a map")),
  }),
});

export const ruleField: Field<Rule> = (v, path, c) => {
  const r = ruleSchema(v, path, c);
  if (!r) return undefined;
  if (r.action === undefined && c.errors.every((e) => e.path !== `${path}.action`)) c.error(`${path}.action`, "is required (Allow, Deny, Log or Pass)");
  for (const side of ["source", "destination"] as const) {
    const e = r[side];
    if (!e) continue;
    for (const f of ["ports", "notPorts"] as const) {
      if (e[f]?.length && !supportsPorts(r.protocol)) c.error(`${path}.${side}.${f}`, "rules that specify ports must set protocol to TCP, UDP or SCTP");
    }
  }
  for (const f of ["icmp", "notICMP"] as const) {
    const i = r[f];
    if (!i) continue;
    if (r.protocol !== "ICMP" && r.protocol !== "ICMPv6" && r.protocol !== 1 && r.protocol !== 58) {
      c.error(`${path}.${f}`, "rules that specify ICMP fields must set protocol to ICMP or ICMPv6");
    }
    if (i.code !== undefined && i.type === undefined) c.error(`${path}.${f}.code`, "ICMP code specified without an ICMP type");
  }
  if (r.ipVersion !== undefined && (r.protocol === "ICMP" || r.notProtocol === "ICMP") && r.ipVersion !== 4)
    c.error(`${path}.ipVersion`, "must be 4 with protocol ICMP");
  if (r.ipVersion !== undefined && (r.protocol === "ICMPv6" || r.notProtocol === "ICMPv6") && r.ipVersion !== 6)
    c.error(`${path}.ipVersion`, "must be 6 with protocol ICMPv6");
  const families = new Set<number>();
  for (const side of ["source", "destination"] as const) {
    for (const f of ["nets", "notNets"] as const) {
      (r[side]?.[f] ?? []).forEach((n, i) => {
        const p = tryParsePrefix(n);
        if (!p) return;
        families.add(p.family);
        if (r.ipVersion !== undefined && p.family !== r.ipVersion)
          c.error(`${path}.${side}.${f}[${i}]`, `is IPv${p.family} but the rule's ipVersion is ${r.ipVersion}`);
      });
    }
  }
  if (families.size > 1) c.error(path, "rule contains both IPv4 and IPv6 CIDRs");
  for (const u of unenforceableCriteria(r)) c.unsupported(`${path}.${u.path}`, u.message);
  return r;
};

/**
 * The match criteria of `rule` tabby's dataplane (nftables, layers 3 and 4) cannot enforce, each
 * with its path inside the rule and why. Refused when written; a stored rule that has any is never
 * compiled (src/calc/policy/rule-compiler.ts): enforcing the rest of it would widen an Allow.
 */
export function unenforceableCriteria(rule: Rule): FieldError[] {
  const out: FieldError[] = [];
  if (rule.http !== undefined) {
    out.push({
      path: "http",
      message:
        "HTTP match criteria are not enforced by tabby (no layer-7 proxy); a rule with them is refused, never enforced without them. Remove http, or express the rule with ports",
    });
  }
  for (const side of ["source", "destination"] as const) {
    if (rule[side]?.services !== undefined) {
      out.push({
        path: `${side}.services`,
        message:
          "Kubernetes Service matches are not enforced by tabby (it does not read Services or their endpoints); a rule with them is refused. Use a selector, nets or ports instead",
      });
    }
  }
  return out;
}
