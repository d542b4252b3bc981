/**
 * Datastore benchmark: sequential write throughput (put, compare-and-swap update) and watch latency
 * for SqliteStore (synchronous=FULL, the default, and NORMAL) and EtcdStore (a real single-member
 * etcd the bench starts on loopback, data dir under --dir), with MemoryStore as the in-process
 * reference. Watch latency is measured across processes (write here → event in a child process
 * watching the same file / etcd, timestamps from one host clock) and within one process.
 *
 *   node dist/bench/datastore.js [--writes N] [--events N] [--dir DIR] [--no-etcd]
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { MemoryStore } from "../src/datastore/memory.js";
import { SqliteStore } from "../src/datastore/sqlite.js";
import { EtcdStore, parseEtcdUrl } from "../src/datastore/etcd.js";
import { startEtcd } from "../test/etcd-server.js";
import type { Store } from "../src/datastore/store.js";

const { values: args } = parseArgs({
  options: {
    writes: { type: "string", default: "2000" },
    events: { type: "string", default: "200" },
    dir: { type: "string", default: tmpdir() },
    "no-etcd": { type: "boolean", default: false },
  },
});
const WRITES = Number(args.writes);
const EVENTS = Number(args.events);
const WORKER = fileURLToPath(new URL("../test/datastore/worker.js", import.meta.url));
const root = mkdtempSync(join(args.dir!, "ttds-bench-"));
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

async function writesPerSecond(store: Store): Promise<{ put: number; cas: number }> {
  for (let i = 0; i < 200; i++) await store.put(`/bench/warm/${i % 10}`, "w"); // grow the file and WAL first
  let t0 = performance.now();
  for (let i = 0; i < WRITES; i++) await store.put(`/bench/put/${i % 100}`, `{"i":${i}}`);
  const put = WRITES / ((performance.now() - t0) / 1000);
  let kv = await store.put("/bench/cas", "0");
  t0 = performance.now();
  for (let i = 0; i < WRITES; i++) kv = await store.update("/bench/cas", String(i), { revision: kv.revision });
  const cas = WRITES / ((performance.now() - t0) / 1000);
  return { put, cas };
}

/** Write → onEvents in the same process. */
async function inProcessLatency(store: Store): Promise<number[]> {
  const sent: number[] = []; // by value: the event may arrive before put()'s promise resolves
  const lat: number[] = [];
  const w = store.watch("/lat/", await store.currentRevision(), {
    onEvents: (evs) => {
      const at = now();
      for (const e of evs) if (e.type === "put") lat.push(at - sent[Number(e.kv.value)]!);
    },
    onError: (e) => {
      throw e;
    },
  });
  for (let i = 0; i < EVENTS; i++) {
    sent[i] = now();
    await store.put(`/lat/${i % 10}`, String(i));
    await sleep(2);
  }
  while (lat.length < EVENTS) await sleep(5);
  w.close();
  return lat;
}

/** Write here → event printed by a watcher in a child process (SQLite file or etcd URL). */
async function crossProcessLatency(target: { sqlite: string; pollMs: number } | { etcd: string }): Promise<number[]> {
  const store = "sqlite" in target ? SqliteStore.open(target.sqlite) : await EtcdStore.open(parseEtcdUrl(target.etcd));
  const from = await store.currentRevision();
  const argv =
    "sqlite" in target
      ? [WORKER, "watch", target.sqlite, "/xlat/", String(from), String(EVENTS), String(target.pollMs)]
      : [WORKER, "watch", target.etcd, "/xlat/", String(from), String(EVENTS)];
  const child = spawn(process.execPath, argv, { stdio: ["ignore", "pipe", "inherit"] });
  const arrivals = new Map<number, number>();
  let buf = "";
  let ready!: () => void;
  const isReady = new Promise<void>((r) => (ready = r));
  child.stdout!.setEncoding("utf8").on("data", (c: string) => {
    buf += c;
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = JSON.parse(buf.slice(0, nl)) as { ready?: boolean; rev?: number; at?: number };
      buf = buf.slice(nl + 1);
      if (line.ready) ready();
      else if (line.rev !== undefined) arrivals.set(line.rev, line.at!);
    }
  });
  const exited = new Promise((r) => child.on("exit", r));
  await isReady;
  if ("etcd" in target) await sleep(300); // the worker prints ready before its watch stream is created
  const sent = new Map<number, number>();
  for (let i = 0; i < EVENTS; i++) {
    const t0 = now();
    const kv = await store.put(`/xlat/${i % 10}`, String(i));
    sent.set(kv.revision, t0);
    await sleep(2 + (i % 5)); // spread writes across the poll phase
  }
  await exited;
  await store.close();
  return [...sent].map(([rev, t0]) => arrivals.get(rev)! - t0);
}

const rows: string[][] = [];
const fmt = (n: number, d = 0) => n.toFixed(d);
const latCells = (lat: number[]) => [fmt(pct(lat, 50), 2), fmt(pct(lat, 99), 2)];

try {
  const mem = new MemoryStore();
  const m = await writesPerSecond(mem);
  rows.push(["MemoryStore (reference)", fmt(m.put), fmt(m.cas), ...latCells(await inProcessLatency(mem)), "in-process"]);
  for (const sync of ["full", "normal"] as const) {
    const path = join(root, sync, "tabby.db");
    const s = SqliteStore.open(path, { synchronous: sync });
    const r = await writesPerSecond(s);
    const inproc = await inProcessLatency(s);
    await s.close();
    rows.push([`SqliteStore synchronous=${sync.toUpperCase()}`, fmt(r.put), fmt(r.cas), ...latCells(inproc), "in-process"]);
    for (const poll of [20, 5]) {
      const lat = await crossProcessLatency({ sqlite: path, pollMs: poll });
      rows.push([`SqliteStore synchronous=${sync.toUpperCase()}`, "", "", ...latCells(lat), `other process, poll ${poll} ms`]);
    }
  }
  if (!args["no-etcd"]) {
    const etcd = await startEtcd();
    try {
      const e = await EtcdStore.open(parseEtcdUrl(etcd.url));
      const r = await writesPerSecond(e);
      const inproc = await inProcessLatency(e);
      await e.close();
      rows.push(["EtcdStore (etcd, loopback)", fmt(r.put), fmt(r.cas), ...latCells(inproc), "in-process"]);
      rows.push(["EtcdStore (etcd, loopback)", "", "", ...latCells(await crossProcessLatency({ etcd: etcd.url })), "other process"]);
    } finally {
      await etcd.stop();
    }
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}

const header = ["store", "put/s", "CAS update/s", "watch median ms", "watch p99 ms", "watcher"];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
console.log(`datastore bench: ${WRITES} sequential writes per figure, ${EVENTS} watch events per latency figure, files under ${args.dir}`);
console.log(line(header));
console.log(line(widths.map((w) => "-".repeat(w))));
for (const r of rows) console.log(line(r));
