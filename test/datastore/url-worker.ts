/**
 * Child process for the multi-process tests on any backend: like worker.ts, but opens the store
 * from a datastore URL (sqlite:///…, etcd://…) through openStore. One JSON line per fact on stdout.
 *   cas    URL KEY N            N compare-and-swap increments of KEY, retrying on DS_CONFLICT
 *   watch  URL PREFIX AFTER N   print each event {rev,key,value,type,at} until N events, then exit
 * With no arguments it does nothing (so a test runner that picks it up sees a passing file).
 */
import { performance } from "node:perf_hooks";
import { hasCode } from "../../src/errors.js";
import { openStore } from "../../src/datastore/open.js";

const [mode, url, ...rest] = process.argv.slice(2);
const out = (o: unknown) => process.stdout.write(JSON.stringify(o) + "\n");
const now = () => performance.timeOrigin + performance.now();

async function cas(key: string, n: number): Promise<void> {
  const store = await openStore(url!);
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

async function watch(prefix: string, after: number, n: number): Promise<void> {
  const store = await openStore(url!);
  let seen = 0;
  const keepAlive = setInterval(() => {}, 1000);
  await new Promise<void>((resolve, reject) => {
    store.watch(prefix, after, {
      onEvents(evs) {
        const at = now();
        for (const e of evs) {
          out(e.type === "put" ? { type: "put", rev: e.kv.revision, key: e.kv.key, value: e.kv.value, at } : { type: "delete", rev: e.revision, key: e.key, at });
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

switch (mode) {
  case undefined:
    break;
  case "cas":
    await cas(rest[0]!, Number(rest[1]));
    break;
  case "watch":
    await watch(rest[0]!, Number(rest[1]), Number(rest[2]));
    break;
  default:
    process.stderr.write(`unknown mode ${mode}\n`);
    process.exit(2);
}
