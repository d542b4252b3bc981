/**
 * Profile (cluster-scoped): rules and labels that endpoints listing it inherit
 * (`labelsToApply`; an endpoint's own labels win). Pure: no I/O.
 */
import { arrayOf, type Checker, object, type Field } from "./check.js";
import { labelsField } from "./meta.js";
import { ruleField, type Rule } from "./rules.js";
import type { Resource } from "./resource.js";

export interface ProfileSpec {
  ingress?: Rule[];
  egress?: Rule[];
  labelsToApply?: Record<string, string>;
}
export type Profile = Resource<"Profile", ProfileSpec>;

const specSchema: Field<ProfileSpec> = object<ProfileSpec>({
  ingress: arrayOf(ruleField),
  egress: arrayOf(ruleField),
  labelsToApply: labelsField,
});

export function checkProfileSpec(v: unknown, c: Checker): ProfileSpec | undefined {
  return specSchema(v, "spec", c);
}
