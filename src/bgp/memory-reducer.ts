/**
 * Gives a burst's memory back once the process is idle. During a burst of UPDATEs (a full table,
 * a reflector's clients coming up) V8 grows its young generation to 32–64 MB and keeps it: V8's
 * own memory reducer shrinks it only after idle notifications, which Node never sends. So a
 * 1M-route table cost 100+ B/route of RSS of which 64 MB was an empty nursery. When the event
 * loop has been nearly idle for a whole interval and the young generation is above its start
 * size, one memory-reducing full GC (V8's "last resort" flavour) shrinks it again; it then grows
 * only with the next burst, so an idle process pays for this once. The decision is pure; the
 * clock, the heap figures and the GC are injected (a process without them does nothing).
 */
import { performance } from "node:perf_hooks";
import { getHeapSpaceStatistics, setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { loadMallocTrim } from "./libc.js";

export interface ReducerSample {
  /** Event-loop utilisation over the last interval (0…1). */
  elu: number;
  /** The young generation's current size in bytes (V8 `new_space` space_size). */
  newSpaceBytes: number;
  /** How much the RSS grew since just after the last reduction (since nothing, before the first). */
  rssGrowthBytes: number;
}

export interface ReducerPolicy {
  /** At most this busy over the interval to count as idle. */
  maxElu: number;
  /** When the young generation is larger than this (it starts at 1 MB, a burst grows it to 32–64 MB) … */
  minNewSpaceBytes: number;
  /** … or when the RSS grew by this much since the last one (a burst's garbage and malloc'd buffers; the first idle interval after start). */
  minRssGrowthBytes: number;
}

export const DEFAULT_REDUCER_POLICY: ReducerPolicy = { maxElu: 0.05, minNewSpaceBytes: 8 << 20, minRssGrowthBytes: 4 << 20 };

export function shouldReduce(s: ReducerSample, p: ReducerPolicy = DEFAULT_REDUCER_POLICY): boolean {
  return s.elu <= p.maxElu && (s.newSpaceBytes > p.minNewSpaceBytes || s.rssGrowthBytes >= p.minRssGrowthBytes);
}

type Gc = (opts?: { type: "major"; execution: "sync"; flavor: "last-resort" }) => void;

/** V8's gc(), exposed at run time (undefined where that is not possible). */
function loadGc(): Gc | undefined {
  try {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as unknown;
    return typeof gc === "function" ? (gc as Gc) : undefined;
  } catch {
    return undefined;
  }
}

export interface MemoryReducerOptions {
  /** How often to look (ms); the idle interval is the same. Default 10 s. */
  intervalMs?: number;
  log?: (level: "info" | "debug", msg: string, fields: Record<string, unknown>) => void;
  /** Gives malloc's free pages back after the collection (default: glibc's malloc_trim, when loadable). */
  trim?: () => (() => number) | undefined;
}

/** Starts the watcher (an unref'd timer); returns its stop. */
export function startMemoryReducer(opts: MemoryReducerOptions = {}): () => void {
  const gc = loadGc();
  if (!gc) return () => {};
  let last = performance.eventLoopUtilization();
  let rssAfterLast = 0; // the start-up's own garbage counts as a burst: the first idle interval reduces
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    const elu = performance.eventLoopUtilization(now, last).utilization;
    last = now;
    const newSpaceBytes = getHeapSpaceStatistics().find((s) => s.space_name === "new_space")?.space_size ?? 0;
    const rss = process.memoryUsage.rss();
    if (!shouldReduce({ elu, newSpaceBytes, rssGrowthBytes: rss - rssAfterLast })) return;
    const t = performance.now();
    gc({ type: "major", execution: "sync", flavor: "last-resort" });
    const rssGc = process.memoryUsage().rss;
    (opts.trim ?? loadMallocTrim)()?.();
    opts.log?.("debug", "idle: heap compacted", {
      rssBeforeMB: Math.round(rss / 1048576),
      rssAfterGcMB: Math.round(rssGc / 1048576),
      rssAfterMB: Math.round(process.memoryUsage().rss / 1048576),
      ms: Math.round(performance.now() - t),
    });
    last = performance.eventLoopUtilization(); // the collection itself is not load
    rssAfterLast = process.memoryUsage.rss();
  }, opts.intervalMs ?? 10_000);
  timer.unref();
  return () => clearInterval(timer);
}
