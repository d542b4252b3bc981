/**
 * The process metrics every tabby daemon serves (prom-client's default set: CPU, memory, heap,
 * event-loop lag, ...), registered in one place with one change: prom-client samples the event
 * loop's lag with a timer every 10 ms by default, a wake-up a hundred times a second in a daemon
 * that is otherwise idle (measured: 0.37 % of a core per process, more than an idle agent's own
 * work; 50 agents of a lab, docs/benchmarks.md "Lab up at 50 hosts"). Every 100 ms the
 * histogram is as useful for lag worth alerting on (tens of ms and more) at a tenth the cost.
 */
import { collectDefaultMetrics, type Registry } from "./prom.js";

/** The lag sampling interval (prom-client's `eventLoopMonitoringPrecision`), ms. */
export const EVENT_LOOP_SAMPLE_MS = 100;

export function registerProcessMetrics(reg: Registry): void {
  collectDefaultMetrics({ register: reg, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
}
