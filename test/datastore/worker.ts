/**
 * Child process for the multi-process datastore tests and benchmark, on any backend. One line of
 * JSON per fact on stdout (stdout to a pipe is synchronous on Linux, so a printed line was
 * acknowledged first). DB is a SQLite file path, or a datastore URL (sqlite:///…, etcd://…).
 *   cas    DB KEY N                 N compare-and-swap increments of KEY, retrying on DS_CONFLICT
 *   watch  DB PREFIX AFTER N [POLL] print each event {rev,key,value,type,at} until N events, then exit
 *                                   (POLL: SQLite poll interval in ms, default 20)
 *   writer DB N                     put /burst/<i> for i < N one after another, printing each acknowledged key
 * With no arguments it does nothing (so a test runner that picks it up sees a passing file).
 */
import { performance } from "node:perf_hooks";
import { hasCode } from "../../src/errors.js";
import { SqliteStore } from "../../src/datastore/sqlite.js";
import { openStore } from "../../src/datastore/open.js";
import type { Store } from "../../src/datastore/store.js";

const [mode, db, ...rest] = process.argv.slice(2);
const out = (o: unknown) => process.stdout.write(JSON.stringify(o) + "\n");
/** Wall-clock ms with sub-ms precision, comparable across processes on one host. */
const now = () => performance.timeOrigin + performance.now();

/** A path opens SQLite with the given poll interval; anything else is a datastore URL. */
async function open(pollIntervalMs = 20): Promise<Store> {
  return db!.startsWith("/") ? SqliteStore.open(db!, { pollIntervalMs }) : openStore(db!);
}

async function cas(key: string, n: number): Promise<void> {
  const store = await open();
  let conflicts = 0;
  for (let i = 0; i < n; i++) {
    for (;;) {
      const cur = await store.get(key);
      try {
        await store.update(key, String(Number(cur!.value) + 1), { revision: cur!.revision });
        break;
      } catch (err) {
        if (!hasCode(err, "DS_CONFLICT")) throw err;
        conflicts++;
      }
    }
  }
  out({ done: n, conflicts });
  await store.close();
}

async function watch(prefix: string, after: number, n: number, pollIntervalMs: number): Promise<void> {
  const store = await open(pollIntervalMs);
  let seen = 0;
  const keepAlive = setInterval(() => {}, 1000); // the store's poll timer is unref'd
  await new Promise<void>((resolve, reject) => {
    store.watch(prefix, after, {
      onEvents(evs) {
        const at = now();
        for (const e of evs) {
          out(
            e.type === "put" ? { type: "put", rev: e.kv.revision, key: e.kv.key, value: e.kv.value, at } : { type: "delete", rev: e.revision, key: e.key, at },
          );
        }
        seen += evs.length;
        if (seen >= n) resolve();
      },
      onError: reject,
    });
    out({ ready: true });
  });
  clearInterval(keepAlive);
  await store.close();
}

async function writer(n: number): Promise<void> {
  const store = await open();
  for (let i = 0; i < n; i++) {
    const key = `/burst/${i}`;
    await store.put(key, String(i));
    out({ acked: key });
  }
  await store.close();
}

switch (mode) {
  case undefined:
    break;
  case "cas":
    await cas(rest[0]!, Number(rest[1]));
    break;
  case "watch":
    await watch(rest[0]!, Number(rest[1]), Number(rest[2]), Number(rest[3] ?? 20));
    break;
  case "writer":
    await writer(Number(rest[0]));
    break;
  default:
    process.stderr.write(`unknown mode ${mode}\n`);
    process.exit(2);
}
