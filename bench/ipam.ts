/**
 * IPAM benchmark: allocations per second (Ipam.autoAssign, one IPv4 address per handle, as CNI
 * ADD does) on one host (one process, sequential) and contended across four hosts (four
 * processes, each a host, allocating at once from one pool through one datastore), for SQLite
 * (synchronous=FULL) and a real single-member etcd the bench starts on loopback, in one run.
 *
 *   node dist/bench/ipam.js [--allocs N] [--cache]     (N per process; default 500)
 *
 * --cache: each process is a long-lived allocator (Ipam with cacheSettings: pools, configuration
 * and reservations from a watch, affinities remembered); without it every allocation reads them
 * as a one-shot CNI call does. Each line also gives the datastore calls per allocation.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { resourceKey } from "../src/model/keys.js";
import { openStore } from "../src/datastore/open.js";
import type { Store } from "../src/datastore/store.js";
import { Ipam } from "../src/ipam/ipam.js";
import { startEtcd } from "../test/etcd-server.js";

const SELF = fileURLToPath(import.meta.url);

/** Counts the store calls made through it (reads and writes). */
function counting(store: Store): { store: Store; calls: () => number } {
  let calls = 0;
  const counted = new Set(["get", "list", "create", "update", "put", "delete"]);
  const proxy = new Proxy(store, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== "function") return v;
      return (...args: unknown[]) => {
        if (counted.has(String(prop))) calls++;
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: proxy, calls: () => calls };
}

async function worker(url: string, node: string, n: number, cache: boolean): Promise<void> {
  const raw = await openStore(url);
  const { store, calls } = counting(raw);
  const ipam = new Ipam(store, { cacheSettings: cache });
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < n; i++) await ipam.autoAssign({ handle: `bench.${node}.${i}`, node, num4: 1, num6: 0 });
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(`${JSON.stringify({ ms, n, calls: calls(), cpuMs: (cpu.user + cpu.system) / 1000 })}\n`);
  ipam.close();
  await raw.close();
}

interface WorkerResult {
  ms: number;
  n: number;
  calls: number;
  cpuMs: number;
}

function runWorker(url: string, node: string, n: number, cache: boolean): Promise<WorkerResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SELF, "--worker", url, node, String(n), cache ? "cache" : "plain"], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.on("close", (code) => (code === 0 ? resolve(JSON.parse(out) as WorkerResult) : reject(new Error(`worker exited ${code}`))));
  });
}

async function seed(url: string): Promise<void> {
  const store = await openStore(url);
  await store.put(
    resourceKey("IPPool", "bench"),
    JSON.stringify({ apiVersion: "projectcalico.org/v3", kind: "IPPool", metadata: { name: "bench" }, spec: { cidr: "10.128.0.0/14", blockSize: 26 } }),
  );
  await store.close();
}

async function measure(name: string, freshUrl: () => Promise<string>, n: number, cache: boolean): Promise<void> {
  let url = await freshUrl();
  await seed(url);
  const one = await runWorker(url, "solo", n, cache);
  url = await freshUrl();
  await seed(url);
  const t0 = performance.now();
  const four = await Promise.all([0, 1, 2, 3].map((h) => runWorker(url, `host${h}`, n, cache)));
  const wall = performance.now() - t0;
  const slowest = Math.max(...four.map((r) => r.ms));
  console.log(
    `${name.padEnd(8)} one host: ${((one.n / one.ms) * 1000).toFixed(0).padStart(5)} allocs/s   ` +
      `four hosts contended: ${(((4 * n) / slowest) * 1000).toFixed(0).padStart(5)} allocs/s in total ` +
      `(${((n / slowest) * 1000).toFixed(0)} per host; wall ${(wall / 1000).toFixed(1)} s incl. process start); ` +
      `store calls/alloc ${(one.calls / one.n).toFixed(1)} one host, ${(four.reduce((a, r) => a + r.calls, 0) / (4 * n)).toFixed(1)} contended; ` +
      `client CPU ms/alloc ${(one.cpuMs / one.n).toFixed(2)}`,
  );
}

if (process.argv[2] === "--worker") {
  await worker(process.argv[3]!, process.argv[4]!, Number(process.argv[5]), process.argv[6] === "cache");
} else {
  const { values } = parseArgs({ options: { allocs: { type: "string", default: "500" }, cache: { type: "boolean", default: false } } });
  const n = Number(values.allocs);
  const cache = values.cache;
  const dir = mkdtempSync(join(tmpdir(), "tti2-bench-"));
  let k = 0;
  try {
    console.log(`IPAM autoAssign, ${n} allocations per process, pool 10.128.0.0/14 blockSize 26${cache ? ", long-lived allocator (--cache)" : ""}`);
    await measure("sqlite", async () => `sqlite://${join(dir, `b${k++}.db`)}`, n, cache);
    const etcds: { stop(): Promise<void> }[] = [];
    try {
      await measure(
        "etcd",
        async () => {
          const e = await startEtcd();
          etcds.push(e);
          return e.url;
        },
        n,
        cache,
      );
    } finally {
      for (const e of etcds) await e.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
