/**
 * BGPFilter (cluster-scoped): import and export rules a BGPPeer lists by name in `spec.filters`.
 * Calico's schema (api/pkg/apis/projectcalico/v3/bgpfilter.go): `exportV4`, `importV4`,
 * `exportV6`, `importV6`, each an ordered list of rules `{cidr, matchOperator, prefixLength
 * {min, max}, source, interface, action}`; checks follow libcalico-go's validator: `cidr` and
 * `matchOperator` come together, `prefixLength` needs a `cidr` and an `In`/`NotIn` operator and
 * lies within the family's lengths (min ≥ the CIDR's length, min ≤ max), the CIDR is of the
 * list's family. Fields Calico added later (`peerType`, `priority`, `operations`) are not
 * implemented and so are refused (strict schema), as is `interface` on import rules (tabby knows
 * no interface for a learned route). Pure: no I/O.
 */
import { arrayOf, type Checker, cidrField, int, isPlainObject, object, oneOf, reorder, str, type Field } from "./check.js";
import { tryParsePrefix } from "../net/index.js";
import type { Resource } from "./resource.js";

export type BGPFilterMatchOperator = "Equal" | "NotEqual" | "In" | "NotIn";

export interface BGPFilterRule {
  cidr?: string;
  matchOperator?: BGPFilterMatchOperator;
  prefixLength?: { min?: number; max?: number };
  source?: "RemotePeers";
  interface?: string;
  action?: "Accept" | "Reject";
}

export interface BGPFilterSpec {
  exportV4?: BGPFilterRule[];
  importV4?: BGPFilterRule[];
  exportV6?: BGPFilterRule[];
  importV6?: BGPFilterRule[];
}
export type BGPFilter = Resource<"BGPFilter", BGPFilterSpec>;

export const BGP_FILTER_LISTS = ["exportV4", "importV4", "exportV6", "importV6"] as const;

function ruleField(family: 4 | 6): Field<BGPFilterRule> {
  const max = family === 4 ? 32 : 128;
  return object<BGPFilterRule>({
    cidr: cidrField({ family, strict: true }),
    matchOperator: oneOf(["Equal", "NotEqual", "In", "NotIn"] as const),
    prefixLength: object<{ min?: number; max?: number }>({ min: int(0, max), max: int(0, max) }),
    source: oneOf(["RemotePeers"] as const),
    interface: str,
    action: oneOf(["Accept", "Reject"] as const),
  });
}

const FIELDS: { [K in keyof BGPFilterSpec]-?: Field<BGPFilterSpec[K]> } = {
  exportV4: arrayOf(ruleField(4)),
  importV4: arrayOf(ruleField(4)),
  exportV6: arrayOf(ruleField(6)),
  importV6: arrayOf(ruleField(6)),
};
const specSchema = object<BGPFilterSpec>(FIELDS);

export function checkBGPFilterSpec(v: unknown, c: Checker): BGPFilterSpec | undefined {
  if (!isPlainObject(v)) return specSchema(v, "spec", c);
  const spec = specSchema(v, "spec", c);
  if (!spec) return undefined;
  for (const list of BGP_FILTER_LISTS) {
    spec[list]?.forEach((r, i) => {
      const at = `spec.${list}[${i}]`;
      if (r.action === undefined) c.error(`${at}.action`, "is required (Accept or Reject)");
      if ((r.cidr === undefined) !== (r.matchOperator === undefined))
        c.error(r.cidr === undefined ? `${at}.cidr` : `${at}.matchOperator`, "cidr and matchOperator must be set together");
      if (list.startsWith("import") && r.interface !== undefined)
        c.error(`${at}.interface`, "is not supported on import rules: tabby knows no interface for a learned route");
      if (r.interface !== undefined && !/^[A-Za-z0-9_.*-]{1,15}$/.test(r.interface))
        c.error(`${at}.interface`, `must be an interface name or pattern (* wildcards) of at most 15 characters, got ${JSON.stringify(r.interface)}`);
      const pl = r.prefixLength;
      if (pl) {
        const p = r.cidr !== undefined ? tryParsePrefix(r.cidr) : undefined;
        if (!p) c.error(`${at}.prefixLength`, "needs a cidr");
        else if (r.matchOperator !== "In" && r.matchOperator !== "NotIn") c.error(`${at}.prefixLength`, "is only valid with matchOperator In or NotIn");
        else {
          if (pl.min !== undefined && pl.min < p.len) c.error(`${at}.prefixLength.min`, `must be at least the cidr's length ${p.len}, got ${pl.min}`);
          if (pl.max !== undefined && pl.max < p.len) c.error(`${at}.prefixLength.max`, `must be at least the cidr's length ${p.len}, got ${pl.max}`);
          if (pl.min !== undefined && pl.max !== undefined && pl.min > pl.max) c.error(`${at}.prefixLength`, `min ${pl.min} is above max ${pl.max}`);
        }
      }
    });
  }
  return reorder(spec, Object.keys(FIELDS));
}
