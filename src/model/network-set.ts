/**
 * NetworkSet (namespaced) and GlobalNetworkSet (cluster-scoped): labelled lists of CIDRs that rule
 * selectors select like endpoints (Calico v3 `NetworkSetSpec`: `nets[]`, each an IP or CIDR).
 * Pure: no I/O.
 */
import { arrayOf, type Checker, cidrField, object } from "./check.js";
import type { Resource } from "./resource.js";

export interface NetworkSetSpec {
  nets?: string[];
}
export type NetworkSet = Resource<"NetworkSet", NetworkSetSpec>;
export type GlobalNetworkSet = Resource<"GlobalNetworkSet", NetworkSetSpec>;

const specSchema = object<NetworkSetSpec>({ nets: arrayOf(cidrField()) });

export function checkNetworkSetSpec(v: unknown, c: Checker): NetworkSetSpec | undefined {
  return specSchema(v, "spec", c);
}
