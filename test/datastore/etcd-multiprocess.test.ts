/**
 * EtcdStore shared by several processes on a real etcd: compare-and-swap increments from N
 * processes lose no update, and a watcher in another process sees every revision in order — the
 * same claims test/datastore/multiprocess.test.ts makes for SQLite.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import { EtcdStore, parseEtcdUrl } from "../../src/datastore/etcd.js";
import { startEtcd, type EtcdServer } from "../etcd-server.js";

const WORKER = fileURLToPath(new URL("./worker.js", import.meta.url));
const children = new Set<ChildProcess>();
let etcd: EtcdServer;
let store: EtcdStore;
const prefix = `/ttd2/${process.pid}/`;

before(async () => {
  etcd = await startEtcd();
  store = await EtcdStore.open(parseEtcdUrl(etcd.url));
});
after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  await store?.close();
  await etcd?.stop();
});

interface Child {
  lines: Record<string, unknown>[];
  exited: Promise<number | string>;
  waitFor(pred: (line: Record<string, unknown>) => boolean): Promise<void>;
}

function run(...args: string[]): Child {
  const proc = spawn(process.execPath, [WORKER, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  children.add(proc);
  const lines: Record<string, unknown>[] = [];
  const waiters: { pred: (l: Record<string, unknown>) => boolean; resolve: () => void }[] = [];
  let buf = "";
  let stderr = "";
  proc.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>;
      buf = buf.slice(nl + 1);
      lines.push(line);
      for (const w of [...waiters]) if (w.pred(line)) waiters.splice(waiters.indexOf(w), 1), w.resolve();
    }
  });
  proc.stderr!.setEncoding("utf8").on("data", (c: string) => (stderr += c));
  const exited = new Promise<number | string>((resolve) =>
    proc.on("exit", (code, signal) => {
      children.delete(proc);
      if (code) process.stderr.write(`worker ${args.join(" ")} exited ${code}: ${stderr}\n`);
      resolve(code ?? signal ?? -1);
    }),
  );
  return {
    lines,
    exited,
    waitFor: (pred) =>
      lines.some(pred)
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => {
            waiters.push({ pred, resolve });
            void exited.then((c) => reject(new Error(`worker exited (${c}) before the expected line; stderr: ${stderr}`)));
          }),
  };
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

test("etcd: 4 processes x 100 compare-and-swap increments on one key: no lost update; a watcher process sees every revision in order", async (t) => {
  const key = `${prefix}counter`;
  const start = await store.create(key, "0");
  const [procs, per] = [4, 100];
  const total = procs * per;
  const watcher = run("watch", etcd.url, key, String(start.revision), String(total));
  await watcher.waitFor((l) => l["ready"] === true);
  const workers = Array.from({ length: procs }, () => run("cas", etcd.url, key, String(per)));
  const codes = await Promise.all(workers.map((w) => w.exited));
  assert.deepEqual(codes, workers.map(() => 0));
  const final = await store.get(key);
  assert.equal(final?.value, String(total));
  assert.equal(await watcher.exited, 0);
  const events = watcher.lines.filter((l) => l["type"]);
  assert.equal(events.length, total);
  assert.deepEqual(events.map((e) => e["value"]), Array.from({ length: total }, (_, i) => String(i + 1)));
  const revs = events.map((e) => e["rev"] as number);
  for (let i = 1; i < revs.length; i++) assert.ok(revs[i]! > revs[i - 1]!);
  assert.equal(revs.at(-1), final!.revision);
  const conflicts = workers.reduce((s, w) => s + ((w.lines.find((l) => "conflicts" in l)?.["conflicts"] as number) ?? 0), 0);
  t.diagnostic(`${total} increments, ${conflicts} CAS conflicts retried`);
  assert.ok(conflicts > 0, "the workers really raced");
});

test("etcd: a change is seen by a watcher in another process, in order (latency logged, not asserted)", async (t) => {
  const p = `${prefix}lat/`;
  const n = 100;
  const watcher = run("watch", etcd.url, p, String(await store.currentRevision()), String(n));
  await watcher.waitFor((l) => l["ready"] === true);
  await new Promise((r) => setTimeout(r, 200)); // let the watch stream be created before the first write is timed
  const sentAt = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const t0 = performance.timeOrigin + performance.now();
    const kv = await store.put(`${p}${i % 10}`, String(i));
    sentAt.set(kv.revision, t0);
    await new Promise((r) => setTimeout(r, 3 + (i % 7)));
  }
  assert.equal(await watcher.exited, 0);
  const events = watcher.lines.filter((l) => l["type"]);
  assert.deepEqual(events.map((e) => e["rev"]), [...sentAt.keys()]);
  const lat = events.map((e) => (e["at"] as number) - sentAt.get(e["rev"] as number)!).sort((a, b) => a - b);
  t.diagnostic(`cross-process etcd watch latency over ${n} writes: median ${percentile(lat, 50).toFixed(2)} ms, p99 ${percentile(lat, 99).toFixed(2)} ms`);
});
