/**
 * The parts of prom-client tabby uses (Registry, Counter, Gauge, Histogram, the default process
 * metrics), required file by file instead of through the package's index: the index also loads
 * the Pushgateway (node:http, https, tls, crypto, zlib), the cluster aggregator and Summary's
 * t-digest, ~30 ms of CPU at every start of an agent or a speaker with metrics
 * (docs/benchmarks.md "What a start costs"). They are the very files the index loads, so the
 * classes are prom-client's own; their types are its declarations.
 */
import { createRequire } from "node:module";
import type * as Prom from "prom-client";

const req = createRequire(import.meta.url);

export type Registry = Prom.Registry;
export const Registry = req("prom-client/lib/registry") as typeof Prom.Registry;
export type Counter<T extends string = string> = Prom.Counter<T>;
export const Counter = req("prom-client/lib/counter") as typeof Prom.Counter;
export type Gauge<T extends string = string> = Prom.Gauge<T>;
export const Gauge = req("prom-client/lib/gauge") as typeof Prom.Gauge;
export type Histogram<T extends string = string> = Prom.Histogram<T>;
export const Histogram = req("prom-client/lib/histogram") as typeof Prom.Histogram;
export const collectDefaultMetrics = req("prom-client/lib/defaultMetrics") as typeof Prom.collectDefaultMetrics;
