/**
 * One hammer process (test/ipam-hammer.test.ts): stands for a host, allocates one address at a
 * time under fresh handles, keeps a few, releases some at random, and at the end releases what
 * it holds. Every step is logged with a synchronous write, so a SIGKILL loses nothing logged:
 *   a H        about to allocate under H        A H IP   allocated
 *   r H        about to release H               R H N    released N addresses
 *   BAD ...    an invariant broke (a release found other than the one address allocated)
 * argv: datastore-url node worker-id generation count seed
 */
import { writeSync } from "node:fs";
import { EtcdStore, parseEtcdUrl } from "../src/datastore/etcd.js";
import { openStore } from "../src/datastore/open.js";
import { SqliteStore } from "../src/datastore/sqlite.js";
import { Ipam } from "../src/ipam/ipam.js";
import { Prng } from "../src/ipam/prng.js";

const [url, node, wid, gen, countText, seedText] = process.argv.slice(2);
const log = (line: string) => writeSync(1, `${line}\n`);
// SQLite: a longer lock wait than the default 5 s. Eight writers on a 2-core machine that other
// jobs load to 7x its cores can hold a writer off that long; that is the machine, not a lost write.
// etcd: longer deadlines than the default 5 s, for the same reason. The deadlines are the
// product's way to turn an outage into DS_UNAVAILABLE instead of a hang (etcd.ts); here etcd never
// goes away, but a worker (re)started among eight others, etcd and other jobs on two cores can
// take more than 5 s of wall clock for its first call (a fresh gRPC connection) or a write, and
// then exits with DS_UNAVAILABLE: the machine, not what the hammer is about (compare-and-swap).
const PATIENT_MS = 60_000;
const store = url!.startsWith("sqlite://")
  ? SqliteStore.open(url!.slice("sqlite://".length), { busyTimeoutMs: PATIENT_MS })
  : url!.startsWith("etcd://")
    ? await EtcdStore.open({ ...parseEtcdUrl(url!), dialTimeoutMs: PATIENT_MS, requestTimeoutMs: PATIENT_MS })
    : await openStore(url!);
const ipam = new Ipam(store, { cacheSettings: true });
const rng = Prng.fromString(`${seedText}-${wid}-${gen}`);
const held: string[] = [];
const release = async (h: string) => {
  log(`r ${h}`);
  const n = await ipam.releaseByHandle(h);
  log(`R ${h} ${n}`);
  if (n !== 1) log(`BAD release ${h} freed ${n}`);
};
const count = Number(countText);
for (let i = 0; i < count; i++) {
  while (held.length >= 4 || (held.length > 0 && rng.nextUint32() % 10 < 4)) {
    const j = rng.nextUint32() % held.length;
    const [h] = held.splice(j, 1);
    await release(h!);
  }
  const h = `hammer.w${wid}g${gen}n${i}`;
  log(`a ${h}`);
  const r = await ipam.autoAssign({ handle: h, node: node!, num4: 1, num6: 0, attrs: { node: node! } });
  log(`A ${h} ${r.ipv4[0]}`);
  held.push(h);
}
for (const h of held.splice(0)) await release(h);
log("DONE");
ipam.close();
await store.close();
