/**
 * The agent's HTTP endpoints from FelixConfiguration (`default`, overridden field by field by
 * `node.<name>`, as felix merges them):
 *   prometheusMetricsEnabled (false), prometheusMetricsHost, prometheusMetricsPort (9091);
 *   healthEnabled (true), healthHost, healthPort (9099).
 * Hosts default to loopback ("127.0.0.1"), where Felix listens on every interface: tabby binds
 * every local endpoint to loopback unless told otherwise (docs/security.md), and the
 * workload→control-plane drop keeps workloads off these ports either way. healthEnabled
 * defaults to true as calico-node's manifests set it (FELIX_HEALTHENABLED=true).
 * Both on one host:port share one server. Pure: no I/O.
 */
export interface Endpoint {
  host: string;
  port: number;
}

export interface ObservabilityConfig {
  metrics?: Endpoint;
  health?: Endpoint;
}

export const DEFAULT_METRICS_PORT = 9091;
export const DEFAULT_HEALTH_PORT = 9099;
export const DEFAULT_HOST = "127.0.0.1";

export function observabilityConfig(specs: (Record<string, unknown> | undefined)[]): ObservabilityConfig {
  const merged: Record<string, unknown> = {};
  for (const s of specs) if (s) for (const [k, v] of Object.entries(s)) if (v !== undefined) merged[k] = v;
  const str = (k: string) => (typeof merged[k] === "string" && merged[k] !== "" ? (merged[k] as string) : undefined);
  const num = (k: string) => (typeof merged[k] === "number" ? (merged[k] as number) : undefined);
  const out: ObservabilityConfig = {};
  if (merged["prometheusMetricsEnabled"] === true)
    out.metrics = { host: str("prometheusMetricsHost") ?? DEFAULT_HOST, port: num("prometheusMetricsPort") ?? DEFAULT_METRICS_PORT };
  if (merged["healthEnabled"] !== false) out.health = { host: str("healthHost") ?? DEFAULT_HOST, port: num("healthPort") ?? DEFAULT_HEALTH_PORT };
  return out;
}
