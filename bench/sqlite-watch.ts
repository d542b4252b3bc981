/**
 * What a commit costs the processes that watch the SQLite datastore (src/datastore/sqlite.ts): in
 * a lab every agent watches the one file, so each workload's commits (IPAM handles and blocks, the
 * endpoint, its labels) are noticed by every agent — most of them for keys outside its prefix.
 * `--watchers` child processes each open the file and watch `/calico/resources/`; the parent
 * commits `--commits` times, one every `--gap` ms, two of three outside that prefix (as IPAM's
 * are). Printed: the watchers' CPU (user + system, from process.cpuUsage) per commit and per
 * watcher, and as the reference the writer's own CPU per commit measured in the same run, and the
 * ratio of the two; the load average before and after (the figures move with it).
 *
 * Run: npx tsc -p . && node dist/bench/sqlite-watch.js [--watchers 20] [--commits 600] [--gap 10]
 *      [--dist path/to/dist] (another build's code, for a before/after in one sitting)
 */
import { fork, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { flag } from "./bgp-util.js";

interface Usage {
  events: number;
  cpuS: number;
}

const argv = process.argv.slice(2);
const role = argv[0] === "--watcher" ? "watcher" : "main";
const dist = argv.includes("--dist") ? argv[argv.indexOf("--dist") + 1]! : fileURLToPath(new URL("..", import.meta.url));
const { SqliteStore } = (await import(join(dist, "src/datastore/sqlite.js"))) as typeof import("../src/datastore/sqlite.js");

const cpuS = (u = process.cpuUsage()) => (u.user + u.system) / 1e6;

if (role === "watcher") {
  const store = SqliteStore.open(argv[1]!);
  let events = 0;
  const { revision } = await store.list("/calico/resources/");
  store.watch("/calico/resources/", revision, { onEvents: (e) => void (events += e.length), onError: () => {} });
  process.on("message", () => process.send!({ events, cpuS: cpuS() } satisfies Usage));
  process.on("SIGTERM", () => void store.close().finally(() => process.exit(0)));
  setInterval(() => {}, 60_000);
} else {
  const watchers = flag(argv, "--watchers", 20);
  const commits = flag(argv, "--commits", 600);
  const gap = flag(argv, "--gap", 10);
  const dir = mkdtempSync(join(tmpdir(), "tsw-"));
  const db = join(dir, "bench.db");
  const load0 = loadavg()[0]!;
  const store = SqliteStore.open(db);
  await store.put("/calico/resources/v3/start", "0");
  const self = fileURLToPath(import.meta.url);
  const kids: ChildProcess[] = Array.from({ length: watchers }, () => fork(self, ["--watcher", db, "--dist", dist]));
  const usage = () => Promise.all(kids.map((k) => new Promise<Usage>((r) => (k.once("message", (m) => r(m as Usage)), k.send(1)))));
  try {
    await sleep(2000); // started and watching
    const before = await usage();
    const w0 = cpuS();
    for (let i = 0; i < commits; i++) {
      await store.put(i % 3 ? `/calico/ipam/v2/handle/h${i}` : `/calico/resources/v3/k${i}`, String(i));
      await sleep(gap);
    }
    const writer = (cpuS() - w0) / commits;
    await sleep(1500); // the last looks
    const after = await usage();
    const seen = Math.min(...after.map((u) => u.events));
    const watcherCpu = after.reduce((s, u, i) => s + u.cpuS - before[i]!.cpuS, 0);
    const perCommit = watcherCpu / commits / watchers;
    console.log(`${watchers} watchers, ${commits} commits ${gap} ms apart (a third in the watched prefix; the fewest events any watcher saw: ${seen})`);
    console.log(`watchers' CPU: ${watcherCpu.toFixed(2)} s in all, ${(perCommit * 1e6).toFixed(0)} µs per commit per watcher`);
    console.log(`writer's CPU (reference, same run): ${(writer * 1e6).toFixed(0)} µs per commit (sleeps and timers included)`);
    console.log(`ratio, one watcher's cost to the writer's per commit: ${(perCommit / writer).toFixed(2)}`);
    console.log(`load average: ${load0.toFixed(1)} before, ${loadavg()[0]!.toFixed(1)} after`);
  } finally {
    for (const k of kids) k.kill("SIGTERM");
    await store.close();
    await sleep(200);
    rmSync(dir, { recursive: true, force: true });
  }
}
