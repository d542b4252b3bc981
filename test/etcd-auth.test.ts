// The etcd backend with etcd's password authentication and a user granted only Calico's /calico/
// prefix (how Calico deployments on a shared etcd are usually set up).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import etcd3 from "etcd3";
import { EtcdStore, parseEtcdUrl } from "../src/datastore/etcd.js";
import { hasCode } from "../src/errors.js";
import { startEtcd, type EtcdServer } from "./etcd-server.js";
import { Recorder } from "./etcd-util.js";

let etcd: EtcdServer;
let hostPort: string;

before(async () => {
  etcd = await startEtcd();
  hostPort = etcd.endpoints[0]!.replace(/^http:\/\//, "");
  const admin = new etcd3.Etcd3({ hosts: etcd.endpoints });
  try {
    await admin.role("root").create();
    await (await admin.user("root").create("rootpw")).addRole("root");
    await (await admin.role("calico").create()).grant({ permission: "Readwrite", range: etcd3.Range.prefix("/calico/") });
    await (await admin.user("tabby").create("s3cret")).addRole("calico");
    await admin.auth.authEnable();
  } finally {
    admin.close();
  }
});

after(async () => {
  await etcd?.stop();
});

test("a user granted /calico/ reads, writes and watches there; elsewhere it gets DS_UNAVAILABLE", async () => {
  const store = await EtcdStore.open(parseEtcdUrl(`etcd://tabby:s3cret@${hostPort}`));
  try {
    assert.ok(!store.url.includes("s3cret"));
    const rec = new Recorder();
    const w = store.watch("/calico/ipam/v2/", await store.currentRevision(), rec);
    const kv = await store.create("/calico/ipam/v2/handle/k8s-pod-network.abc", '{"block":{}}');
    assert.deepEqual(await store.get(kv.key), kv);
    await rec.until(() => rec.events.length === 1, "the event");
    w.close();
    const err = await store.put("/elsewhere", "x").then(
      () => assert.fail("write outside the grant succeeded"),
      (e: unknown) => e,
    );
    assert.ok(hasCode(err, "DS_UNAVAILABLE"), String(err));
    assert.match((err as Error).message, /permission denied/);
  } finally {
    await store.close();
  }
});

test("a wrong password fails open with DS_UNAVAILABLE", async () => {
  await assert.rejects(EtcdStore.open({ ...parseEtcdUrl(`etcd://tabby:wrong@${hostPort}`), dialTimeoutMs: 3000 }), (e: unknown) =>
    hasCode(e, "DS_UNAVAILABLE"),
  );
});
