/**
 * Host-wide policy settings from FelixConfiguration: `default`, overridden field by field by
 * `node.<hostname>` (felix's precedence among datastore sources). Fields read:
 * `failsafeInboundHostPorts` / `failsafeOutboundHostPorts` (v3 `[{protocol, port}]`, or the
 * config-file form "tcp:22"; an empty list means none; absent means Calico's defaults),
 * `defaultEndpointToHostAction` (Drop | Accept | Return; default Drop), `logPrefix` (default
 * "calico-packet") and `logActionRateLimit` ("N/second|minute|hour|day"; absent = unlimited),
 * `flowLogsEnabled` (tabby's: flow logs through NFLOG group FLOW_LOG_GROUP, docs/observability.md)
 * and `flowLogsFlushInterval` (the aggregation interval), `interfacePrefix` (workload interface
 * name prefixes, comma-separated; src/net/iface-prefix.ts).
 * Also IPPools, for natOutgoing (felix's masq-ipam-pools / all-ipam-pools): the CIDRs of pools
 * with natOutgoing and of every pool.
 * Pure: no I/O.
 */
import { DEFAULT_FAILSAFE_INBOUND, DEFAULT_FAILSAFE_OUTBOUND, FLOW_LOG_GROUP, type ConfigUpdate } from "../policy-output.js";
import type { DataplaneSink } from "./sequencer.js";
import { parseInterfacePrefixes } from "../../net/iface-prefix.js";

type ProtoPort = { protocol: "tcp" | "udp"; port: number };

function protoPorts(v: unknown, dflt: readonly ProtoPort[]): ProtoPort[] {
  if (!Array.isArray(v)) return dflt.map((p) => ({ ...p }));
  const out: ProtoPort[] = [];
  for (const x of v) {
    let proto: unknown;
    let port: unknown;
    if (typeof x === "string") {
      const m = /^(tcp|udp):(\d+)$/i.exec(x);
      if (m) [proto, port] = [m[1], Number(m[2])];
    } else if (x && typeof x === "object") {
      ({ protocol: proto, port } = x as Record<string, unknown>);
      if (proto === undefined) proto = "tcp";
      // A quoted port ("22") is refused by `tabby apply`; one stored by another writer is kept
      // open rather than dropped: dropping a failsafe port could lock the operator out.
      if (typeof port === "string" && /^\d{1,5}$/.test(port)) port = Number(port);
    }
    const p = typeof proto === "string" ? proto.toLowerCase() : undefined;
    if ((p === "tcp" || p === "udp") && typeof port === "number" && Number.isInteger(port) && port >= 1 && port <= 65535) out.push({ protocol: p, port });
  }
  return out;
}

const PER: Record<string, number> = { second: 1, minute: 60, hour: 3600, day: 86400 };

function rate(v: unknown): number {
  if (typeof v !== "string") return 0;
  const m = /^(\d+)\/(second|minute|hour|day)$/.exec(v);
  return m ? Number(m[1]) / PER[m[2]!]! : 0;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go duration ("15s", "5m0s", "1h30m") in milliseconds; undefined when it is not one. */
function durationMs(v: unknown): number | undefined {
  if (typeof v !== "string" || !/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(v)) return undefined;
  let ms = 0;
  for (const m of v.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) ms += Number(m[1]) * UNIT_MS[m[2]!]!;
  return ms > 0 ? ms : undefined;
}

/** The ConfigUpdate for a merged FelixConfiguration spec. */
export function configFromSpec(spec: Record<string, unknown>): ConfigUpdate {
  const action = typeof spec["defaultEndpointToHostAction"] === "string" ? spec["defaultEndpointToHostAction"].toLowerCase() : "drop";
  return {
    kind: "config-update",
    failsafeInbound: protoPorts(spec["failsafeInboundHostPorts"], DEFAULT_FAILSAFE_INBOUND),
    failsafeOutbound: protoPorts(spec["failsafeOutboundHostPorts"], DEFAULT_FAILSAFE_OUTBOUND),
    defaultEndpointToHostAction: action === "accept" || action === "return" ? action : "drop",
    logRateLimitPerSecond: rate(spec["logActionRateLimit"]),
    logPrefix: typeof spec["logPrefix"] === "string" && spec["logPrefix"] !== "" ? spec["logPrefix"] : "calico-packet",
    ...(spec["flowLogsEnabled"] === true ? { flowLogGroup: FLOW_LOG_GROUP } : {}),
    ...(durationMs(spec["flowLogsFlushInterval"]) !== undefined ? { flowLogFlushMs: durationMs(spec["flowLogsFlushInterval"])! } : {}),
    ...(interfacePrefixesOf(spec["interfacePrefix"]) ?? {}),
  };
}

/** `interfacePrefix` when set and valid (the model refuses an invalid one at apply time; one already in the datastore leaves the default). */
function interfacePrefixesOf(v: unknown): { interfacePrefixes: string[] } | undefined {
  if (v === undefined || v === "") return undefined;
  try {
    return { interfacePrefixes: parseInterfacePrefixes(v) };
  } catch {
    return undefined;
  }
}

/** The natOutgoing field for a set of pools (sorted, so equal inputs give equal output). */
export function natOutgoingOf(pools: Iterable<{ cidr: string; natOutgoing: boolean }>): { natPools: string[]; allPools: string[] } {
  const all = new Set<string>();
  const nat = new Set<string>();
  for (const p of pools) {
    all.add(p.cidr);
    if (p.natOutgoing) nat.add(p.cidr);
  }
  return { natPools: [...nat].sort(), allPools: [...all].sort() };
}

export class ConfigCalculator {
  private global: Record<string, unknown> | undefined;
  private node: Record<string, unknown> | undefined;
  private readonly pools = new Map<string, { cidr: string; natOutgoing: boolean }>();

  constructor(
    private readonly hostname: string,
    private readonly sink: DataplaneSink,
  ) {
    this.sink.configUpdated(configFromSpec({}));
  }

  onFelixConfiguration(name: string, spec: Record<string, unknown> | undefined): void {
    if (name === "default") this.global = spec;
    else if (name === `node.${this.hostname}`) this.node = spec;
    else return;
    this.emit();
  }

  onIPPool(name: string, pool: { cidr: string; natOutgoing: boolean } | undefined): void {
    const old = this.pools.get(name);
    if (pool) this.pools.set(name, pool);
    else this.pools.delete(name);
    if (old?.cidr === pool?.cidr && old?.natOutgoing === pool?.natOutgoing) return;
    this.emit();
  }

  private emit(): void {
    const c = configFromSpec({ ...this.global, ...this.node });
    const nat = natOutgoingOf(this.pools.values());
    if (nat.natPools.length) c.natOutgoing = nat;
    this.sink.configUpdated(c);
  }
}
