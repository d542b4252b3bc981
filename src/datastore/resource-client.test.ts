import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeClock } from "../clock.js";
import { hasCode } from "../errors.js";
import type { IPPool, Resource, WorkloadEndpoint } from "../model/index.js";
import { MemoryStore } from "./memory.js";
import { ResourceClient, type ResourceEvent } from "./resource-client.js";
import { resourceKey } from "../model/keys.js";

const V3 = "projectcalico.org/v3" as const;

function setup() {
  const store = new MemoryStore();
  let n = 0;
  const client = new ResourceClient(store, { clock: new FakeClock(Date.UTC(2026, 0, 2, 3, 4, 5)), newUid: () => `uid-${++n}` });
  return { store, client };
}

const pool = (name: string, cidr: string, extra: Record<string, unknown> = {}): IPPool =>
  ({ apiVersion: V3, kind: "IPPool", metadata: { name }, spec: { cidr, ...extra } }) as IPPool;

const wep = (ns: string, pod: string, ip: string): WorkloadEndpoint =>
  ({
    apiVersion: V3,
    kind: "WorkloadEndpoint",
    metadata: { name: "", namespace: ns },
    spec: { node: "host1", orchestrator: "k8s", pod, endpoint: "eth0", ipNetworks: [`${ip}/32`], interfaceName: "cali0", profiles: [`kns.${ns}`] },
  }) as WorkloadEndpoint;

test("create stores the full v3 object at Calico's key, with uid, creationTimestamp and defaults", async () => {
  const { store, client } = setup();
  const created = await client.create(pool("default-ipv4-ippool", "192.168.0.0/16"));
  assert.equal(created.metadata.uid, "uid-1");
  assert.equal(created.metadata.creationTimestamp, "2026-01-02T03:04:05Z");
  assert.equal(created.metadata.resourceVersion, "1");
  assert.equal(created.spec.blockSize, 26);
  const kv = await store.get("/calico/resources/v3/projectcalico.org/ippools/default-ipv4-ippool");
  assert.ok(kv);
  const stored = JSON.parse(kv.value);
  assert.equal(stored.apiVersion, V3);
  assert.equal(stored.kind, "IPPool");
  assert.equal(stored.metadata.resourceVersion, undefined, "the version is the KV revision, not stored");
  assert.equal(stored.spec.ipipMode, "Never");
  const got = await client.get<IPPool>("IPPool", "default-ipv4-ippool");
  assert.deepEqual(got, created);
});

test("create refuses an existing name and an invalid object, writing nothing", async () => {
  const { store, client } = setup();
  await client.create(pool("p", "10.0.0.0/16"));
  await assert.rejects(client.create(pool("p", "10.1.0.0/16")), (e) => hasCode(e, "DS_ALREADY_EXISTS"));
  await assert.rejects(
    client.create(pool("q", "10.1.0.0/16", { blockSize: 40 })),
    (e) => hasCode(e, "MODEL_INVALID") && /spec\.blockSize/.test((e as Error).message),
  );
  assert.equal(await store.currentRevision(), 1);
});

test("update: compare-and-swap on resourceVersion", async () => {
  const { client } = setup();
  const v1 = await client.create(pool("p", "10.0.0.0/16"));
  const v2 = await client.update({ ...v1, spec: { ...v1.spec, natOutgoing: true } });
  assert.equal(v2.spec.natOutgoing, true);
  assert.notEqual(v2.metadata.resourceVersion, v1.metadata.resourceVersion);
  assert.equal(v2.metadata.uid, v1.metadata.uid);
  assert.equal(v2.metadata.creationTimestamp, v1.metadata.creationTimestamp);
  // A writer holding the old version loses.
  await assert.rejects(client.update({ ...v1, spec: { ...v1.spec, disabled: true } }), (e) => hasCode(e, "DS_CONFLICT"));
  assert.equal((await client.get<IPPool>("IPPool", "p"))!.spec.disabled, undefined);
  // Without a resourceVersion the update is unconditional.
  const { resourceVersion: _drop, ...meta } = v1.metadata;
  const v3 = await client.update({ ...v1, metadata: meta, spec: { ...v1.spec, disabled: true } });
  assert.equal(v3.spec.disabled, true);
  await assert.rejects(client.update(pool("absent", "10.9.0.0/16")), (e) => hasCode(e, "DS_NOT_FOUND"));
  await assert.rejects(client.update({ ...v3, metadata: { ...v3.metadata, resourceVersion: "abc" } }), (e) => hasCode(e, "MODEL_INVALID"));
});

test("update refuses to change an IPPool's cidr or blockSize", async () => {
  const { client } = setup();
  const v1 = await client.create(pool("p", "10.0.0.0/16"));
  await assert.rejects(
    client.update({ ...v1, spec: { ...v1.spec, cidr: "10.1.0.0/16" } }),
    (e) => hasCode(e, "MODEL_INVALID") && /spec\.cidr: cannot be changed/.test((e as Error).message),
  );
  await assert.rejects(client.apply({ ...v1, spec: { ...v1.spec, blockSize: 28 } }), (e) => hasCode(e, "MODEL_INVALID"));
});

test("apply creates, then updates keeping uid and creationTimestamp", async () => {
  const { client } = setup();
  const a = await client.apply(pool("p", "10.0.0.0/16"));
  assert.equal(a.metadata.uid, "uid-1");
  const b = await client.apply(pool("p", "10.0.0.0/16", { natOutgoing: true }));
  assert.equal(b.metadata.uid, "uid-1");
  assert.equal(b.metadata.creationTimestamp, a.metadata.creationTimestamp);
  assert.equal(b.spec.natOutgoing, true);
  // A stale resourceVersion given to apply is honoured as a CAS.
  await assert.rejects(client.apply({ ...b, metadata: { ...b.metadata, resourceVersion: a.metadata.resourceVersion! } }), (e) => hasCode(e, "DS_CONFLICT"));
  // A user cannot replace uid through apply.
  const c = await client.apply({ ...pool("p", "10.0.0.0/16"), metadata: { name: "p", uid: "forged" } });
  assert.equal(c.metadata.uid, "uid-1");
});

test("concurrent applies of the same new object: one creates, the other updates", async () => {
  const { client } = setup();
  const [x, y] = await Promise.all([client.apply(pool("p", "10.0.0.0/16")), client.apply(pool("p", "10.0.0.0/16", { natOutgoing: true }))]);
  assert.equal(x.metadata.uid, y.metadata.uid);
  const final = await client.get<IPPool>("IPPool", "p");
  assert.equal(final!.metadata.uid, x.metadata.uid);
});

test("delete: plain and compare-and-swap", async () => {
  const { client } = setup();
  const v1 = await client.create(pool("p", "10.0.0.0/16"));
  const v2 = await client.apply(pool("p", "10.0.0.0/16", { natOutgoing: true }));
  await assert.rejects(client.delete("IPPool", "p", undefined, { resourceVersion: v1.metadata.resourceVersion! }), (e) => hasCode(e, "DS_CONFLICT"));
  const gone = await client.delete<IPPool>("IPPool", "p", undefined, { resourceVersion: v2.metadata.resourceVersion! });
  assert.equal(gone.spec.natOutgoing, true);
  assert.equal(await client.get("IPPool", "p"), undefined);
  await assert.rejects(client.delete("IPPool", "p"), (e) => hasCode(e, "DS_NOT_FOUND"));
});

test("namespaced kinds: per namespace and across namespaces", async () => {
  const { client } = setup();
  const a = await client.create(wep("prod", "web-1", "10.65.0.2"));
  assert.equal(a.metadata.name, "host1-k8s-web--1-eth0");
  await client.create(wep("prod", "web-2", "10.65.0.3"));
  await client.create(wep("dev", "web-1", "10.65.0.4"));
  await client.create(wep("prod2", "web-9", "10.65.0.5"));
  assert.deepEqual(
    (await client.list("WorkloadEndpoint", "prod")).items.map((r) => r.metadata.name),
    ["host1-k8s-web--1-eth0", "host1-k8s-web--2-eth0"],
  );
  const all = await client.list("WorkloadEndpoint");
  assert.deepEqual(
    all.items.map((r) => `${r.metadata.namespace}/${r.metadata.name}`),
    ["dev/host1-k8s-web--1-eth0", "prod/host1-k8s-web--1-eth0", "prod/host1-k8s-web--2-eth0", "prod2/host1-k8s-web--9-eth0"],
  );
  assert.equal(all.revision, 4);
  assert.ok(await client.get("WorkloadEndpoint", "host1-k8s-web--1-eth0", "dev"));
  assert.throws(
    () => resourceKey("WorkloadEndpoint", "x"),
    (e) => hasCode(e, "MODEL_NAMESPACE_REQUIRED"),
  );
});

test("list returns every item in key order with the store revision", async () => {
  const { client } = setup();
  for (let i = 0; i < 1203; i++) await client.create(pool(`p-${String(i).padStart(4, "0")}`, `10.${i >> 8}.${i & 255}.0/24`, { blockSize: 26 }));
  await client.create({ apiVersion: V3, kind: "Profile", metadata: { name: "kns.prod" }, spec: {} } as Resource);
  const l = await client.list("IPPool");
  assert.equal(l.items.length, 1203);
  assert.equal(l.items[0]!.metadata.name, "p-0000");
  assert.equal(l.items[1202]!.metadata.name, "p-1202");
  assert.equal(l.revision, 1204);
  assert.equal((await client.list("Profile")).items.length, 1);
});

test("watch delivers decoded puts and deletes after a revision", async () => {
  const { client } = setup();
  await client.create(pool("before", "10.0.0.0/16"));
  const { revision } = await client.list("IPPool");
  const events: ResourceEvent[] = [];
  const watcher = client.watch("IPPool", revision, { onEvents: (evs) => events.push(...evs), onError: (e) => assert.fail(e) });
  const p = await client.create(pool("p", "10.1.0.0/16"));
  await client.create({ apiVersion: V3, kind: "Node", metadata: { name: "host1" }, spec: {} } as Resource);
  await client.apply(pool("p", "10.1.0.0/16", { natOutgoing: true }));
  await client.delete("IPPool", "p");
  await new Promise((r) => setImmediate(r));
  watcher.close();
  assert.deepEqual(
    events.map((e) => [e.type, e.kind, e.name, e.revision, (e.resource?.spec as { natOutgoing?: boolean } | undefined)?.natOutgoing]),
    [
      ["put", "IPPool", "p", 2, undefined],
      ["put", "IPPool", "p", 4, true],
      ["delete", "IPPool", "p", 5, true],
    ],
  );
  assert.equal(events[0]!.resource!.metadata.resourceVersion, "2");
  assert.equal(events[0]!.resource!.metadata.uid, p.metadata.uid);
});

test("watch of a namespaced kind reports the namespace", async () => {
  const { client } = setup();
  const events: ResourceEvent[] = [];
  client.watch("WorkloadEndpoint", 0, { onEvents: (evs) => events.push(...evs), onError: (e) => assert.fail(e) });
  await client.create(wep("prod", "web-1", "10.65.0.2"));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(
    events.map((e) => [e.namespace, e.name]),
    [["prod", "host1-k8s-web--1-eth0"]],
  );
});

test("watch from a compacted revision reports DS_COMPACTED", async () => {
  const { store, client } = setup();
  await client.create(pool("a", "10.0.0.0/16"));
  await client.create(pool("b", "10.1.0.0/16"));
  store.compact(2);
  const err = await new Promise((resolve) => client.watch("IPPool", 0, { onEvents: () => assert.fail("no events expected"), onError: resolve }));
  assert.ok(hasCode(err, "DS_COMPACTED"));
});

test("concurrent unconditional updates both succeed (the loser re-reads); conditional ones conflict", async () => {
  const { client } = setup();
  const v1 = await client.create(pool("p", "10.0.0.0/16"));
  const { resourceVersion: _rv, ...meta } = v1.metadata;
  const results = await Promise.all([
    client.update({ ...v1, metadata: meta, spec: { ...v1.spec, natOutgoing: true } }),
    client.update({ ...v1, metadata: meta, spec: { ...v1.spec, disabled: true } }),
  ]);
  assert.equal(results.length, 2);
  const latest = (await client.get<IPPool>("IPPool", "p"))!;
  const settled = await Promise.allSettled([
    client.update({ ...latest, spec: { ...latest.spec, natOutgoing: false } }),
    client.update({ ...latest, spec: { ...latest.spec, disabled: false } }),
  ]);
  assert.deepEqual(settled.map((s) => s.status).sort(), ["fulfilled", "rejected"]);
  const rejected = settled.find((s) => s.status === "rejected") as PromiseRejectedResult;
  assert.ok(hasCode(rejected.reason, "DS_CONFLICT"));
});
