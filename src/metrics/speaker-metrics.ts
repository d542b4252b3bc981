/**
 * `tabby bgp run`'s Prometheus metrics: the BGP and BFD families (bgp-collector.ts) and the
 * process metrics, in their own registry.
 */
import { Registry } from "./prom.js";
import { registerProcessMetrics } from "./process-metrics.js";
import { registerBgpMetrics, type BgpSources } from "./bgp-collector.js";

export function speakerRegistry(src: BgpSources, opts: { processMetrics?: boolean } = {}): Registry {
  const reg = new Registry();
  if (opts.processMetrics !== false) registerProcessMetrics(reg);
  registerBgpMetrics(reg, src);
  return reg;
}
