/**
 * FelixConfiguration: tabby reads a handful of its ~200 fields (src/calc/policy/config.ts,
 * control-plane.ts) and keeps the rest as written. Checked here are the fields where a value
 * would otherwise be accepted and silently not honoured:
 *   - `workloadControlPlaneAccessSelector` (tabby's own, docs/security.md) must be a selector;
 *   - `natOutgoingExclusions`: tabby always excludes node addresses as well as pools from
 *     natOutgoing (Calico's `IPPoolsAndHostIPs`); `IPPoolsOnly`, Calico's default, is refused
 *     rather than ignored, so nobody believes workload traffic to nodes is masqueraded;
 *   - `flowLogs*` (Calico's flow-log fields): refused, tabby records no flow logs yet.
 * Pure: no I/O.
 */
import { Checker, describe, isPlainObject, selectorField } from "./check.js";

export function checkFelixConfigurationSpec(v: unknown, c: Checker): Record<string, unknown> | undefined {
  if (!isPlainObject(v)) {
    c.error("spec", `must be an object, got ${describe(v)}`);
    return undefined;
  }
  const spec = structuredClone(v) as Record<string, unknown>;
  if (spec["workloadControlPlaneAccessSelector"] !== undefined) selectorField(spec["workloadControlPlaneAccessSelector"], "spec.workloadControlPlaneAccessSelector", c);
  const excl = spec["natOutgoingExclusions"];
  if (excl !== undefined && excl !== "IPPoolsAndHostIPs") {
    c.error(
      "spec.natOutgoingExclusions",
      excl === "IPPoolsOnly"
        ? "IPPoolsOnly is not supported: tabby never masquerades workload traffic to another node (only IPPoolsAndHostIPs)"
        : `must be IPPoolsAndHostIPs, got ${describe(excl)}`,
    );
  }
  // Calico's flow-log fields (flowLogsFlushInterval, flowLogsGoldmaneServer, ...): tabby records no
  // flow logs yet, so a value would be accepted and do nothing
  for (const k of Object.keys(spec).filter((k) => k.startsWith("flowLogs")).sort()) {
    c.error(`spec.${k}`, `flow logs are not implemented by tabby yet (docs/observability.md, "flows"); remove ${k}`);
  }
  return spec;
}
