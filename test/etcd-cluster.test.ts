// The etcd backend against a 3-member etcd cluster: with one member down (killed), reads, writes,
// compare-and-swap and watches keep working through the other endpoints; the member comes back.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { EtcdStore, parseEtcdUrl } from "../src/datastore/etcd.js";
import { hasCode } from "../src/errors.js";
import { startEtcdCluster, type EtcdCluster } from "./etcd-server.js";
import { Recorder, evRev } from "./etcd-util.js";

let cluster: EtcdCluster;
let store: EtcdStore;

before(async () => {
  cluster = await startEtcdCluster(3);
  store = await EtcdStore.open(parseEtcdUrl(cluster.url));
});

after(async () => {
  await store?.close().catch(() => {});
  await cluster?.stop();
});

test("one member of three down: reads, CAS writes and watches carry on through the others; watches on a live member see every write", async () => {
  const p = `/tabby-cluster/${process.pid}/`;
  assert.equal(store.url, cluster.url);
  const base = await store.create(`${p}counter`, "0");
  const start = base.revision;
  // Writes spread over all members before the failure.
  for (let i = 1; i <= 10; i++) await store.update(`${p}counter`, String(i));

  cluster.kill(1);
  // A write in flight to (or sent on a stale connection to) the killed member has an unknown
  // outcome and fails with DS_UNAVAILABLE rather than being replayed; the caller re-reads to
  // see whether it landed — the same check Calico's IPAM does after an etcd error.
  let ambiguous = 0;
  for (let i = 11; i <= 60; i++) {
    for (;;) {
      const cur = (await store.get(`${p}counter`))!;
      if (cur.value === String(i)) break; // the ambiguous write had landed
      assert.equal(cur.value, String(i - 1));
      try {
        await store.update(`${p}counter`, String(i), { revision: cur.revision });
        break;
      } catch (e) {
        if (!hasCode(e, "DS_UNAVAILABLE")) throw e;
        ambiguous++;
      }
    }
  }
  assert.ok(ambiguous <= 2, `${ambiguous} writes failed; only those caught by the kill should`);
  await assert.rejects(store.create(`${p}counter`, "x"), (e: unknown) => hasCode(e, "DS_ALREADY_EXISTS"));
  // A watch opened now lands on a live member (retrying on DS_UNAVAILABLE as a syncer would).
  let rec = new Recorder();
  for (let attempt = 0; attempt < 5; attempt++) {
    rec = new Recorder();
    const w = store.watch(p, start, rec);
    await rec.until(() => rec.errors.length > 0 || rec.events.length >= 60, "history replay");
    if (rec.errors.length === 0) {
      w.close();
      break;
    }
  }
  assert.deepEqual(rec.errors, []);
  const values = rec.events.map((e) => (e.type === "put" ? e.kv.value : "deleted"));
  assert.deepEqual(
    values,
    Array.from({ length: 60 }, (_, i) => String(i + 1)),
    "each value once, in order",
  );
  const revs = rec.events.map(evRev);
  assert.ok(revs.every((r, i) => i === 0 || r > revs[i - 1]!));
  assert.deepEqual(
    (await store.list(p)).items.map((kv) => kv.value),
    ["60"],
  );

  await cluster.restart(1);
  const after = await store.update(`${p}counter`, "61");
  assert.ok(after.revision > revs.at(-1)!);
});
