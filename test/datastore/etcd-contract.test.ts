/**
 * The shared Store contract (src/testkit/datastore/store-contract.ts) against EtcdStore on a real etcd 3.4 from
 * Debian's etcd-server: the same suite MemoryStore and SqliteStore pass. One etcd serves the whole
 * suite; before each test every key is deleted (so `list("")` sees only that test's keys), and the
 * suite never assumes revisions start anywhere in particular. Leases run on etcd's own clock.
 */
import { after } from "node:test";
import etcd3 from "etcd3";
import { runStoreContract } from "../../src/testkit/datastore/store-contract.js";
import { EtcdStore, parseEtcdUrl } from "../../src/datastore/etcd.js";
import { startEtcd, type EtcdServer } from "../etcd-server.js";

let server: Promise<EtcdServer> | undefined;
const etcd = () => (server ??= startEtcd());
after(async () => {
  if (server) await (await server).stop();
});

runStoreContract(
  "EtcdStore (real etcd)",
  async () => {
    const srv = await etcd();
    // Wipe every key left by the previous test with a plain client (not the code under test).
    const raw = new etcd3.Etcd3({ hosts: srv.endpoints });
    try {
      await raw.delete().all();
    } finally {
      raw.close();
    }
    const opts = parseEtcdUrl(srv.url);
    const store = await EtcdStore.open(opts);
    const peers: EtcdStore[] = [];
    return {
      store,
      compact: (rev) => store.compact(rev),
      peer: async () => {
        const p = await EtcdStore.open(opts);
        peers.push(p);
        return p;
      },
      cleanup: async () => {
        for (const p of peers) await p.close();
        await store.close();
      },
    };
  },
  { leaseTime: "real" },
);
