/**
 * Tier (cluster-scoped): an ordered group of policies (Calico v3 `TierSpec`): `order` (nil = after
 * every ordered tier) and `defaultAction` Deny (default) | Pass, what happens to a packet that no
 * policy of the tier allowed, denied or passed. Three tiers always exist, as calico-node creates
 * them: `kube-admin` (order 1000, Pass), `default` (order 1e6, Deny), `kube-baseline` (order
 * 1e7, Pass); as in libcalico-go's validator their orders cannot be changed. Tier names are
 * DNS-1123 labels (no dots: policy names use "<tier>." as their prefix).
 * Pure: no I/O.
 */
import { type Checker, describe, object, oneOf, type Field } from "./check.js";
import { DNS1123_LABEL } from "./meta.js";
import type { Resource } from "./resource.js";

export interface TierSpec {
  order?: number;
  defaultAction?: "Deny" | "Pass";
}
export type Tier = Resource<"Tier", TierSpec>;

export const DEFAULT_TIER = "default";

/** The tiers that exist without being created, with their fixed order and default action. */
export const BUILTIN_TIERS: Readonly<Record<string, Required<TierSpec>>> = {
  "kube-admin": { order: 1000, defaultAction: "Pass" },
  default: { order: 1_000_000, defaultAction: "Deny" },
  "kube-baseline": { order: 10_000_000, defaultAction: "Pass" },
};

/** A policy or tier `order`: any finite number (Calico's *float64). */
export const orderField: Field<number> = (v, path, c) => {
  if (typeof v !== "number" || !Number.isFinite(v)) return void c.error(path, `must be a number, got ${describe(v)}`);
  return v;
};

const specSchema = object<TierSpec>({ order: orderField, defaultAction: oneOf(["Deny", "Pass"] as const) });

export function tierNameProblem(name: string): string | undefined {
  if (name === "") return "is required";
  if (!DNS1123_LABEL.test(name)) return `must be a DNS-1123 label (lower case alphanumerics and '-', at most 63 characters, no dots), got ${describe(name)}`;
  return undefined;
}

export function checkTierSpec(v: unknown, c: Checker, name: string): TierSpec | undefined {
  const spec = specSchema(v, "spec", c);
  if (!spec) return undefined;
  const builtin = BUILTIN_TIERS[name];
  if (builtin) {
    if (spec.order !== undefined && spec.order !== builtin.order)
      c.error("spec.order", `the ${name} tier's order is fixed at ${builtin.order}, got ${spec.order}`);
    spec.order ??= builtin.order;
    spec.defaultAction ??= builtin.defaultAction;
  }
  spec.defaultAction ??= "Deny";
  return spec.order === undefined ? { defaultAction: spec.defaultAction } : { order: spec.order, defaultAction: spec.defaultAction };
}
