/**
 * FelixConfiguration: every field of Calico's FelixConfigurationSpec (felix-fields.ts) is typed
 * (a wrong type, an unknown field or a value outside an enumeration is an error naming the path),
 * and each is either honoured by tabby or refused by name unless it is set to Calico's default
 * (or, for a feature tabby does not have, to "off"): never stored and silently not honoured.
 *
 * Honoured (src/calc/policy/config.ts, control-plane.ts, src/health/config.ts):
 *   - `failsafeInboundHostPorts` / `failsafeOutboundHostPorts`: a list of `{protocol, port}`;
 *     protocol TCP or UDP (any case), port an integer 1-65535. A quoted port ("22") is refused,
 *     not dropped (dropping it would take SSH out of the failsafe set); `net` is refused (tabby's
 *     failsafe rules have no source/destination net: honouring the rest would widen it);
 *   - `defaultEndpointToHostAction`, `logPrefix`, `flowLogsFlushInterval`;
 *   - the metrics and health endpoints: `prometheusMetricsEnabled` / `healthEnabled` booleans,
 *     `*Host` an IP address, `*Port` 1-65535; `prometheus{Go,Process,WireGuard}MetricsEnabled`
 *     only true (tabby always exports its process metrics and cannot turn families off);
 *   - `natOutgoingExclusions`: only `IPPoolsAndHostIPs` (tabby never masquerades workload
 *     traffic to another node); Calico's default `IPPoolsOnly` is refused rather than ignored.
 *   - `interfacePrefix`: comma-separated interface name prefixes (Felix's; tabby's default `tab`;
 *     src/net/iface-prefix.ts).
 * tabby's own fields: `workloadControlPlaneAccessSelector` (docs/security.md), `flowLogsEnabled`,
 * `logActionRateLimit` ("N/second|minute|hour|day"), and `workloadDHCPDNSServers` (IP addresses)
 * and `workloadDHCPDomain` (a DNS name): what the agent's DHCP/RA responder tells VMs
 * (src/dhcp/agent-hook.ts).
 * Pure: no I/O.
 */
import { type Checker, childPath, describe, isPlainObject, selectorField } from "./check.js";
import { tryParseIP } from "../net/index.js";
import { parseInterfacePrefixes } from "../net/iface-prefix.js";
import { FELIX_FIELDS, type FelixField } from "./felix-fields.js";

const BY_NAME = new Map(FELIX_FIELDS.map((f) => [f.n, f]));

/** Fields tabby reads, checked by their own rules below (any valid value is honoured). */
const HONOURED = new Set([
  "failsafeInboundHostPorts",
  "failsafeOutboundHostPorts",
  "defaultEndpointToHostAction",
  "logPrefix",
  "flowLogsFlushInterval",
  "prometheusMetricsEnabled",
  "prometheusMetricsHost",
  "prometheusMetricsPort",
  "healthEnabled",
  "healthHost",
  "healthPort",
  "natOutgoingExclusions",
  "interfacePrefix",
]);
/** tabby's own fields (not Calico's). */
const TABBY_FIELDS = new Set(["workloadControlPlaneAccessSelector", "flowLogsEnabled", "logActionRateLimit", "workloadDHCPDNSServers", "workloadDHCPDomain"]);

/** The values accepted for these fields instead of Calico's default: "off" for a feature tabby does not have, or what tabby does. */
const OFF_OK: Record<string, readonly unknown[]> = {
  useInternalDataplaneDriver: [true],
  ipv6Support: [true],
  ipipEnabled: [false],
  vxlanEnabled: [false],
  disableConntrackInvalidCheck: [false],
  routeSyncDisabled: [false],
  bpfPolicyDebugEnabled: [false],
  bpfKubeProxyEndpointSlicesEnabled: [false],
  flowLogsCollectorDebugTrace: [false],
  removeExternalRoutes: [false],
  nftablesMode: ["Disabled", "Enabled", "Auto"],
  ipForwarding: ["Enabled"],
};

/** Why a family of fields is not honoured, by name prefix (longest first wins). */
const WHY: [string, string][] = [
  ["ipip", "tabby is pure layer 3 and builds no IPIP tunnels"],
  ["allowIPIP", "tabby is pure layer 3 and builds no IPIP tunnels"],
  ["vxlan", "tabby is pure layer 3 and builds no VXLAN tunnels"],
  ["allowVXLAN", "tabby is pure layer 3 and builds no VXLAN tunnels"],
  ["wireguard", "tabby has no WireGuard encryption"],
  ["prometheusWireGuard", "tabby always exports its process metrics and cannot turn families off"],
  ["prometheus", "tabby always exports its process metrics and cannot turn families off"],
  ["bpf", "tabby's dataplane is nftables; it has no eBPF dataplane"],
  ["xdp", "tabby has no XDP acceleration"],
  ["genericXDP", "tabby has no XDP acceleration"],
  ["iptables", "tabby programs nftables only, in its own table (docs/policy.md)"],
  ["nftables", "tabby always programs nftables in its own table; its actions and marks are fixed"],
  ["chainInsertMode", "tabby programs its own nftables table, not iptables chains"],
  ["flowLogs", "tabby's flow logs are read with `tabby flows` (flowLogsEnabled, flowLogsFlushInterval; docs/observability.md)"],
  ["wireguard", "tabby has no WireGuard encryption"],
  ["debug", "tabby has no Felix debug hooks"],
  ["go", "tabby is not a Go program"],
  ["usageReporting", "tabby reports no usage anywhere"],
  ["openstack", "tabby has no OpenStack integration"],
  ["metadata", "tabby has no OpenStack metadata proxy"],
  ["windows", "tabby runs on Linux only"],
  ["aws", "tabby does not manage AWS settings"],
  ["log", "tabby's agent logs to standard error at the level `tabby node run` is given"],
];

function whyNot(name: string): string {
  let best: [string, string] | undefined;
  for (const w of WHY) if (name.startsWith(w[0]) && (!best || w[0].length > best[0].length)) best = w;
  return best?.[1] ?? "tabby does not implement it";
}

const DURATION = /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$|^0$/;

/** Type check of one Calico field; returns whether the value is well-formed. */
function typed(f: FelixField, v: unknown, path: string, c: Checker): boolean {
  switch (f.t) {
    case "bool":
      if (typeof v === "boolean") return true;
      c.error(path, `must be true or false, got ${describe(v)}`);
      return false;
    case "int":
      if (typeof v === "number" && Number.isInteger(v)) return true;
      c.error(path, `must be an integer, got ${describe(v)}`);
      return false;
    case "duration":
      if (typeof v === "string" && DURATION.test(v)) return true;
      c.error(path, `must be a duration such as "90s" or "1m30s", got ${describe(v)}`);
      return false;
    case "string":
      if (typeof v !== "string") {
        c.error(path, `must be a string, got ${describe(v)}`);
        return false;
      }
      if (f.e && v !== "" && !f.e.some((x) => (f.ci ? x.toLowerCase() === v.toLowerCase() : x === v))) {
        c.error(path, `must be one of ${f.e.join(", ")}, got ${describe(v)}`);
        return false;
      }
      return true;
    case "strings":
      if (Array.isArray(v) && v.every((x) => typeof x === "string")) return true;
      c.error(path, `must be a list of strings, got ${describe(v)}`);
      return false;
    case "protoPorts":
    case "list":
      if (Array.isArray(v)) return true;
      c.error(path, `must be a list, got ${describe(v)}`);
      return false;
    case "object":
      if (isPlainObject(v) || f.n === "bpfPSNATPorts" || f.n === "routeTableRanges") return true;
      c.error(path, `must be an object, got ${describe(v)}`);
      return false;
  }
}

function durationSeconds(s: string): number {
  let n = 0;
  const unit: Record<string, number> = { ns: 1e-9, us: 1e-6, µs: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) n += Number(m[1]) * unit[m[2]!]!;
  return n;
}

function isDefault(f: FelixField, v: unknown): boolean {
  const ok = OFF_OK[f.n];
  if (ok) return ok.some((x) => (typeof x === "string" && typeof v === "string" ? x.toLowerCase() === v.toLowerCase() : x === v));
  if (f.d === undefined) return false;
  if (f.t === "duration" && typeof v === "string" && typeof f.d === "string") return durationSeconds(v) === durationSeconds(f.d);
  if (typeof f.d === "string" && typeof v === "string") return f.d.toLowerCase() === v.toLowerCase();
  return f.d === v;
}

function showDefault(f: FelixField): string {
  const off = OFF_OK[f.n];
  if (off) return off.map((x) => JSON.stringify(x)).join(" or ");
  return f.d === undefined ? "" : JSON.stringify(f.d);
}

/** A failsafe list: `{protocol, port}` entries, each refused (not dropped) when tabby cannot keep it. */
function checkFailsafe(v: unknown, path: string, c: Checker): void {
  if (!Array.isArray(v)) return void c.error(path, `must be a list of {protocol, port}, got ${describe(v)}`);
  v.forEach((e, i) => {
    const p = `${path}[${i}]`;
    if (!isPlainObject(e)) return void c.error(p, `must be an object {protocol, port}, got ${describe(e)}`);
    for (const k of Object.keys(e)) if (k !== "protocol" && k !== "port" && k !== "net") c.error(childPath(p, k), "unknown field");
    const proto = e["protocol"] ?? "TCP";
    if (typeof proto !== "string" || !["tcp", "udp"].includes(proto.toLowerCase())) c.error(`${p}.protocol`, `must be TCP or UDP, got ${describe(proto)}`);
    const port = e["port"];
    if (port === undefined) c.error(`${p}.port`, "is required");
    else if (typeof port === "string")
      c.error(
        `${p}.port`,
        `must be a number, not a string: write ${/^\d+$/.test(port) ? port : "the port"} without quotes (got ${describe(port)}); a failsafe port is never dropped silently`,
      );
    else if (!(typeof port === "number" && Number.isInteger(port) && port >= 1 && port <= 65535))
      c.error(`${p}.port`, `must be a port 1-65535, got ${describe(port)}`);
    if (e["net"] !== undefined && e["net"] !== "")
      c.unsupported(
        `${p}.net`,
        `tabby's failsafe rules match the port from any address; a failsafe limited to ${describe(e["net"])} is refused rather than widened. Remove net`,
      );
  });
}

export function checkFelixConfigurationSpec(v: unknown, c: Checker): Record<string, unknown> | undefined {
  if (!isPlainObject(v)) {
    c.error("spec", `must be an object, got ${describe(v)}`);
    return undefined;
  }
  const spec = structuredClone(v) as Record<string, unknown>;
  for (const [k, val] of Object.entries(spec)) {
    const path = childPath("spec", k);
    if (val === null || val === undefined) continue;
    if (TABBY_FIELDS.has(k)) continue; // checked below
    const f = BY_NAME.get(k);
    if (!f) {
      c.error(path, "unknown field (not a FelixConfiguration field)");
      continue;
    }
    if (k === "failsafeInboundHostPorts" || k === "failsafeOutboundHostPorts") {
      checkFailsafe(val, path, c);
      continue;
    }
    if (!typed(f, val, path, c)) continue;
    if (HONOURED.has(k)) continue;
    if (!isDefault(f, val)) {
      const d = showDefault(f);
      c.unsupported(path, `${describe(val)} is not honoured: ${whyNot(k)}. Remove ${k}${d ? ` or set it to ${d}` : ""}`);
    }
  }
  if (spec["workloadControlPlaneAccessSelector"] !== undefined)
    selectorField(spec["workloadControlPlaneAccessSelector"], "spec.workloadControlPlaneAccessSelector", c);
  if (spec["flowLogsEnabled"] !== undefined && typeof spec["flowLogsEnabled"] !== "boolean")
    c.error("spec.flowLogsEnabled", `must be true or false, got ${describe(spec["flowLogsEnabled"])}`);
  const rate = spec["logActionRateLimit"];
  if (rate !== undefined && (typeof rate !== "string" || !/^\d+\/(second|minute|hour|day)$/.test(rate)))
    c.error("spec.logActionRateLimit", `must be "N/second", "N/minute", "N/hour" or "N/day", got ${describe(rate)}`);
  const excl = spec["natOutgoingExclusions"];
  if (excl !== undefined && excl !== "IPPoolsAndHostIPs") {
    c.unsupported(
      "spec.natOutgoingExclusions",
      excl === "IPPoolsOnly"
        ? "IPPoolsOnly is not supported: tabby never masquerades workload traffic to another node (only IPPoolsAndHostIPs)"
        : `must be IPPoolsAndHostIPs, got ${describe(excl)}`,
    );
  }
  for (const f of ["prometheusMetricsHost", "healthHost"]) {
    const h = spec[f];
    if (typeof h === "string" && h !== "" && tryParseIP(h) === undefined) c.error(`spec.${f}`, `must be an IP address to listen on, got ${describe(h)}`);
  }
  for (const f of ["prometheusMetricsPort", "healthPort"]) {
    const p = spec[f];
    if (typeof p === "number" && Number.isInteger(p) && (p < 1 || p > 65535)) c.error(`spec.${f}`, `must be a port 1-65535, got ${describe(p)}`);
  }
  const a = spec["defaultEndpointToHostAction"];
  if (typeof a === "string" && a === "") c.error("spec.defaultEndpointToHostAction", "must be Drop, Accept or Return");
  const dns = spec["workloadDHCPDNSServers"];
  if (dns !== undefined && !(Array.isArray(dns) && dns.every((d) => typeof d === "string" && tryParseIP(d) !== undefined)))
    c.error("spec.workloadDHCPDNSServers", `must be a list of IP addresses, got ${describe(dns)}`);
  const dom = spec["workloadDHCPDomain"];
  if (dom !== undefined && !(typeof dom === "string" && /^(?=.{1,253}$)[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})*\.?$/.test(dom)))
    c.error("spec.workloadDHCPDomain", `must be a DNS domain name, got ${describe(dom)}`);
  if (spec["interfacePrefix"] !== undefined) {
    try {
      parseInterfacePrefixes(spec["interfacePrefix"]);
    } catch (e) {
      c.error("spec.interfacePrefix", (e as Error).message);
    }
  }
  return spec;
}
