/**
 * FelixConfiguration: tabby reads a handful of its ~200 fields (src/calc/policy/config.ts,
 * control-plane.ts) and keeps the rest as written. Checked here are the fields where a value
 * would otherwise be accepted and silently not honoured:
 *   - `workloadControlPlaneAccessSelector` (tabby's own, docs/security.md) must be a selector;
 *   - `natOutgoingExclusions`: tabby always excludes node addresses as well as pools from
 *     natOutgoing (Calico's `IPPoolsAndHostIPs`); `IPPoolsOnly`, Calico's default, is refused
 *     rather than ignored, so nobody believes workload traffic to nodes is masqueraded;
 *   - the metrics and health endpoints (src/health/config.ts): `prometheusMetricsEnabled` and
 *     `healthEnabled` booleans, `*Host` an IP address, `*Port` 1-65535; the other
 *     `prometheus*MetricsEnabled` fields (Go, process, WireGuard) are refused unless true:
 *     tabby exports one set of process metrics always, and cannot turn parts off.
 *   - flow logs: `flowLogsEnabled` (tabby's) must be a boolean, `flowLogsFlushInterval` a duration;
 *     Calico's other `flowLogs*` fields are refused by name.
 *   - `interfacePrefix`: comma-separated interface name prefixes (src/net/iface-prefix.ts).
 *   - `workloadDHCPDNSServers` (IP addresses) and `workloadDHCPDomain` (a DNS name): tabby's own,
 *     what the agent's DHCP/RA responder tells workloads (src/dhcp/agent-hook.ts).
 * Pure: no I/O.
 */
import { Checker, describe, isPlainObject, selectorField } from "./check.js";
import { tryParseIP } from "../net/index.js";
import { parseInterfacePrefixes } from "../net/iface-prefix.js";

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
  for (const f of ["prometheusMetricsEnabled", "healthEnabled"]) {
    if (spec[f] !== undefined && typeof spec[f] !== "boolean") c.error(`spec.${f}`, `must be true or false, got ${describe(spec[f])}`);
  }
  for (const f of ["prometheusMetricsHost", "healthHost"]) {
    const h = spec[f];
    if (h !== undefined && (typeof h !== "string" || (h !== "" && tryParseIP(h) === undefined))) c.error(`spec.${f}`, `must be an IP address to listen on, got ${describe(h)}`);
  }
  for (const f of ["prometheusMetricsPort", "healthPort"]) {
    const p = spec[f];
    if (p !== undefined && !(typeof p === "number" && Number.isInteger(p) && p >= 1 && p <= 65535)) c.error(`spec.${f}`, `must be a port 1-65535, got ${describe(p)}`);
  }
  for (const f of ["prometheusGoMetricsEnabled", "prometheusProcessMetricsEnabled", "prometheusWireGuardMetricsEnabled"]) {
    if (spec[f] !== undefined && spec[f] !== true) c.error(`spec.${f}`, "only true is supported: tabby always exports its process metrics and cannot turn families off");
  }
  // Flow logs: tabby's `flowLogsEnabled` and Calico's `flowLogsFlushInterval` are honoured; Calico's
  // other flow-log fields (Goldmane, local reporter, evaluation modes) are refused by name
  if (spec["flowLogsEnabled"] !== undefined && typeof spec["flowLogsEnabled"] !== "boolean") c.error("spec.flowLogsEnabled", `must be true or false, got ${describe(spec["flowLogsEnabled"])}`);
  const flush = spec["flowLogsFlushInterval"];
  if (flush !== undefined && (typeof flush !== "string" || !/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(flush))) c.error("spec.flowLogsFlushInterval", `must be a duration such as 15s or 5m, got ${describe(flush)}`);
  for (const k of Object.keys(spec).filter((k) => k.startsWith("flowLogs") && k !== "flowLogsEnabled" && k !== "flowLogsFlushInterval").sort()) {
    c.error(`spec.${k}`, `is not supported: tabby's flow logs are read with \`tabby flows\` (flowLogsEnabled, flowLogsFlushInterval; docs/observability.md "flows"); remove ${k}`);
  }
  const dns = spec["workloadDHCPDNSServers"];
  if (dns !== undefined && !(Array.isArray(dns) && dns.every((d) => typeof d === "string" && tryParseIP(d) !== undefined))) c.error("spec.workloadDHCPDNSServers", `must be a list of IP addresses, got ${describe(dns)}`);
  const dom = spec["workloadDHCPDomain"];
  if (dom !== undefined && !(typeof dom === "string" && /^(?=.{1,253}$)[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})*\.?$/.test(dom))) c.error("spec.workloadDHCPDomain", `must be a DNS domain name, got ${describe(dom)}`);
  if (spec["interfacePrefix"] !== undefined) {
    try {
      parseInterfacePrefixes(spec["interfacePrefix"]);
    } catch (e) {
      c.error("spec.interfacePrefix", (e as Error).message);
    }
  }
  return spec;
}
