/**
 * `tabby bgp run`'s Prometheus metrics: the BGP and BFD families (bgp-collector.ts) and the
 * process metrics, in their own registry.
 */
import { collectDefaultMetrics, Registry } from "prom-client";
import { registerBgpMetrics, type BgpSources } from "./bgp-collector.js";

export function speakerRegistry(src: BgpSources, opts: { processMetrics?: boolean } = {}): Registry {
  const reg = new Registry();
  if (opts.processMetrics !== false) collectDefaultMetrics({ register: reg });
  registerBgpMetrics(reg, src);
  return reg;
}
