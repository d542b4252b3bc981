/**
 * NetworkPolicy (namespaced) and GlobalNetworkPolicy (cluster-scoped), Calico v3
 * `NetworkPolicySpec` / `GlobalNetworkPolicySpec` with libcalico-go's validation and clientv3's
 * defaults:
 * - `tier` defaults to `default`; the name must be `<tier>.<rest>` unless the tier is `default`,
 *   where a name without dots (or `default.<rest>`) is accepted (`names.ValidateTieredPolicyName`;
 *   `knp.default.` and `ossg.` names are taken as already formatted);
 * - `types` inferred when absent: no egress rules ⇒ [Ingress]; egress rules only ⇒ [Egress];
 *   both ⇒ [Ingress, Egress]; no repeats;
 * - GlobalNetworkPolicy: `doNotTrack` and `preDNAT` exclusive; either needs `applyOnForward`;
 *   preDNAT has no egress rules and no Egress type;
 * - selectors parsed with Calico's grammar; at most 1024 rules per direction (Calico's CRD limit).
 * Pure: no I/O.
 */
import { arrayOf, bool, type Checker, object, oneOf, selectorField, type Field } from "./check.js";
import { ruleField, type Rule } from "./rules.js";
import { DEFAULT_TIER, orderField, tierNameProblem } from "./tier.js";
import type { Resource } from "./resource.js";

export type PolicyType = "Ingress" | "Egress";

export interface NetworkPolicySpec {
  tier?: string;
  order?: number;
  selector?: string;
  types?: PolicyType[];
  ingress?: Rule[];
  egress?: Rule[];
  serviceAccountSelector?: string;
  performanceHints?: "AssumeNeededOnEveryNode"[];
}
export interface GlobalNetworkPolicySpec extends NetworkPolicySpec {
  namespaceSelector?: string;
  doNotTrack?: boolean;
  preDNAT?: boolean;
  applyOnForward?: boolean;
}
export type NetworkPolicy = Resource<"NetworkPolicy", NetworkPolicySpec>;
export type GlobalNetworkPolicy = Resource<"GlobalNetworkPolicy", GlobalNetworkPolicySpec>;

export const MAX_RULES = 1024;

const tierField: Field<string> = (v, p, c) => {
  if (typeof v !== "string") return void c.error(p, "must be a string");
  const problem = tierNameProblem(v);
  return problem ? void c.error(p, problem) : v;
};

const common = {
  tier: tierField,
  order: orderField,
  selector: selectorField,
  types: arrayOf(oneOf(["Ingress", "Egress"] as const)),
  ingress: arrayOf(ruleField),
  egress: arrayOf(ruleField),
  serviceAccountSelector: selectorField,
  performanceHints: arrayOf(oneOf(["AssumeNeededOnEveryNode"] as const)),
};

const npSchema = object<NetworkPolicySpec>(common);
const gnpSchema = object<GlobalNetworkPolicySpec>({
  ...common,
  namespaceSelector: selectorField,
  doNotTrack: bool,
  preDNAT: bool,
  applyOnForward: bool,
});

const FORMATTED_PREFIXES = ["knp.default.", "kcnp.kube-admin.", "kcnp.kube-baseline.", "ossg."];

/** Why a policy name does not fit its tier (libcalico-go names.ValidateTieredPolicyName), or undefined. */
export function tieredPolicyNameProblem(name: string, tier: string): string | undefined {
  if (name === "" || FORMATTED_PREFIXES.some((p) => name.startsWith(p))) return undefined;
  const dot = name.indexOf(".");
  if (dot === -1 && tier === DEFAULT_TIER) return undefined;
  if (dot !== -1 && name.startsWith(`${tier}.`)) return undefined;
  return tier === DEFAULT_TIER
    ? `must have no dots or start with "default." for a policy in the default tier, got ${JSON.stringify(name)}`
    : `must start with the tier name and a dot ("${tier}.") for a policy in tier ${tier}, got ${JSON.stringify(name)}`;
}

/** Calico's `types` default: from which rule lists are present. */
export function inferPolicyTypes(spec: { ingress?: unknown[]; egress?: unknown[] }): PolicyType[] {
  const eg = (spec.egress?.length ?? 0) > 0;
  const ing = (spec.ingress?.length ?? 0) > 0;
  if (!eg) return ["Ingress"];
  if (!ing) return ["Egress"];
  return ["Ingress", "Egress"];
}

function finish<S extends NetworkPolicySpec>(spec: S, c: Checker, name: string): S {
  spec.tier ??= DEFAULT_TIER;
  const np = tieredPolicyNameProblem(name, spec.tier);
  if (np) c.error("metadata.name", np);
  if (spec.types === undefined || spec.types.length === 0) spec.types = inferPolicyTypes(spec);
  else if (new Set(spec.types).size !== spec.types.length) c.error("spec.types", "must not repeat a type");
  for (const dir of ["ingress", "egress"] as const) {
    const n = spec[dir]?.length ?? 0;
    if (n > MAX_RULES) c.error(`spec.${dir}`, `must have at most ${MAX_RULES} rules, got ${n}`);
  }
  return spec;
}

export function checkNetworkPolicySpec(v: unknown, c: Checker, name: string): NetworkPolicySpec | undefined {
  const spec = npSchema(v, "spec", c);
  return spec && finish(spec, c, name);
}

export function checkGlobalNetworkPolicySpec(v: unknown, c: Checker, name: string): GlobalNetworkPolicySpec | undefined {
  const spec = gnpSchema(v, "spec", c);
  if (!spec) return undefined;
  if (spec.doNotTrack && spec.preDNAT) c.error("spec.preDNAT", "cannot be true together with doNotTrack");
  if ((spec.doNotTrack || spec.preDNAT) && !spec.applyOnForward) {
    c.error("spec.applyOnForward", `must be true when ${spec.doNotTrack ? "doNotTrack" : "preDNAT"} is true`);
  }
  if (spec.preDNAT && (spec.egress?.length ?? 0) > 0) c.error("spec.egress", "a preDNAT policy cannot have egress rules");
  if (spec.preDNAT && spec.types?.includes("Egress")) c.error("spec.types", "a preDNAT policy cannot have the Egress type");
  return finish(spec, c, name);
}
