// The etcd backend over TLS with client-certificate authentication (etcds:// URLs), against a real
// etcd started with --client-cert-auth and a throw-away CA made with openssl.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { EtcdStore, parseEtcdUrl } from "../src/datastore/etcd.js";
import { hasCode } from "../src/errors.js";
import { startEtcd, type EtcdServer, type TestPki } from "./etcd-server.js";
import { Recorder } from "./etcd-util.js";

let etcd: EtcdServer & { pki?: TestPki };

before(async () => {
  etcd = await startEtcd({ tls: true });
});

after(async () => {
  await etcd?.stop();
});

test("etcds:// with ca, cert and key: read, write and watch over TLS", async () => {
  const store = await EtcdStore.open(parseEtcdUrl(etcd.url));
  try {
    assert.match(store.url, /^etcds:\/\/127\.0\.0\.1:\d+$/);
    const rec = new Recorder();
    const w = store.watch("/tls/", await store.currentRevision(), rec);
    const kv = await store.create("/tls/a", "secret");
    assert.deepEqual(await store.get("/tls/a"), kv);
    await rec.until(() => rec.events.length === 1, "the event over TLS");
    w.close();
  } finally {
    await store.close();
  }
});

test("without a client certificate etcd refuses us: DS_UNAVAILABLE", async () => {
  const opts = parseEtcdUrl(etcd.url);
  const err = await EtcdStore.open({ endpoints: opts.endpoints, tls: { ca: etcd.pki!.ca }, dialTimeoutMs: 3000 }).then(
    (s) => s.close().then(() => assert.fail("open without a client cert succeeded")),
    (e: unknown) => e,
  );
  assert.ok(hasCode(err, "DS_UNAVAILABLE"), String(err));
});

test("a missing TLS file is DS_UNAVAILABLE naming the file", async () => {
  const opts = parseEtcdUrl(etcd.url);
  await assert.rejects(
    EtcdStore.open({ ...opts, tls: { ...opts.tls, ca: "/nonexistent/ca.pem" } }),
    (e: unknown) => hasCode(e, "DS_UNAVAILABLE") && /\/nonexistent\/ca\.pem/.test((e as Error).message),
  );
});
