/**
 * IPReservation and IPAMConfiguration (Calico v3 `IPReservationSpec`, `IPAMConfigurationSpec`).
 * IPReservation (cluster-scoped) lists `reservedCIDRs` that IPAM must never hand out
 * automatically. IPAMConfiguration is a singleton named `default`: `strictAffinity` (never
 * borrow from another host's block), `maxBlocksPerHost` (0 = no explicit cap; > 0 requires
 * strictAffinity, as Calico's validator says), `autoAllocateBlocks` (default true).
 * Pure: no I/O.
 */
import { arrayOf, bool, type Checker, cidrField, int, object, reorder } from "./check.js";
import type { Resource } from "./resource.js";

export interface IPReservationSpec {
  reservedCIDRs?: string[];
}
export type IPReservation = Resource<"IPReservation", IPReservationSpec>;

export interface IPAMConfigurationSpec {
  strictAffinity?: boolean;
  maxBlocksPerHost?: number;
  autoAllocateBlocks?: boolean;
}
export type IPAMConfiguration = Resource<"IPAMConfiguration", IPAMConfigurationSpec>;

const reservationSchema = object<IPReservationSpec>({ reservedCIDRs: arrayOf(cidrField()) });

export function checkIPReservationSpec(v: unknown, c: Checker): IPReservationSpec | undefined {
  const spec = reservationSchema(v, "spec", c);
  if (spec && spec.reservedCIDRs === undefined && !c.errors.some((e) => e.path.startsWith("spec.reservedCIDRs"))) {
    c.error("spec.reservedCIDRs", "is required (a list of IP addresses or CIDRs)");
  }
  return spec;
}

const IPAM_FIELDS = ["strictAffinity", "maxBlocksPerHost", "autoAllocateBlocks"];
const ipamSchema = object<IPAMConfigurationSpec>({
  strictAffinity: bool,
  maxBlocksPerHost: int(0, 2147483647),
  autoAllocateBlocks: bool,
});

export function checkIPAMConfigurationSpec(v: unknown, c: Checker, name: string): IPAMConfigurationSpec | undefined {
  if (name !== "default" && name !== "") c.error("metadata.name", `must be "default" (IPAMConfiguration is a singleton), got ${JSON.stringify(name)}`);
  const spec = ipamSchema(v, "spec", c);
  if (!spec) return undefined;
  spec.strictAffinity ??= false;
  spec.maxBlocksPerHost ??= 0;
  spec.autoAllocateBlocks ??= true;
  if (spec.maxBlocksPerHost > 0 && !spec.strictAffinity) {
    c.error("spec.maxBlocksPerHost", `can only be set (got ${spec.maxBlocksPerHost}) when strictAffinity is true`);
  }
  return reorder(spec, IPAM_FIELDS);
}
