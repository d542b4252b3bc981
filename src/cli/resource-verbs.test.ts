/**
 * replace, patch, label, all-or-nothing multi-document writes (also when the datastore fails
 * mid-way), and datastore export/import, driven in-process against injected MemoryStores.
 */
import { test } from "node:test";
import { cliTestBed, runCli } from "../testkit/cli/cli-test-bed.js";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { MemoryStore } from "../datastore/memory.js";
import { ResourceClient } from "../datastore/resource-client.js";
import { DatastoreError, type Store } from "../datastore/store.js";
import { useStoreForTests } from "./datastore-flag.js";
import * as apply from "./apply.js";
import * as create from "./create.js";
import * as replace from "./replace.js";
import * as patch from "./patch.js";
import * as label from "./label.js";
import * as dsExport from "./datastore-export.js";
import * as dsImport from "./datastore-import.js";
import { mergePatch } from "./merge-patch.js";
import type { IPPool } from "../model/index.js";

const bed = cliTestBed("ttd2-cli-");
const file = bed.file;

const cli = runCli;

/** Every key and value in the store (revisions aside): "nothing changed" means this is equal. */
async function snapshot(s: Store): Promise<Record<string, string>> {
  return Object.fromEntries((await s.list("/")).items.map((kv) => [kv.key, kv.value]));
}

const pool = (name: string, cidr: string, extra = "") => `apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: ${name}
spec:
  cidr: ${cidr}
${extra}`;

test("mergePatch follows RFC 7386 (its appendix A examples)", () => {
  const cases: [unknown, unknown, unknown][] = [
    [{ a: "b" }, { a: "c" }, { a: "c" }],
    [{ a: "b" }, { b: "c" }, { a: "b", b: "c" }],
    [{ a: "b" }, { a: null }, {}],
    [{ a: "b", b: "c" }, { a: null }, { b: "c" }],
    [{ a: ["b"] }, { a: "c" }, { a: "c" }],
    [{ a: "c" }, { a: ["b"] }, { a: ["b"] }],
    [{ a: { b: "c" } }, { a: { b: "d", c: null } }, { a: { b: "d" } }],
    [{ a: [{ b: "c" }] }, { a: [1] }, { a: [1] }],
    [
      ["a", "b"],
      ["c", "d"],
      ["c", "d"],
    ],
    [{ a: "b" }, ["c"], ["c"]],
    [{ a: "foo" }, null, null],
    [{ a: "foo" }, "bar", "bar"],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: "b", c: null }, { a: "b" }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ];
  for (const [target, p, want] of cases) assert.deepEqual(mergePatch(target, p), want, JSON.stringify([target, p]));
});

test("replace: updates existing resources keeping uid; fails and writes nothing if any is absent", async () => {
  assert.equal((await cli(apply, ["-f", file("a.yaml", pool("a", "10.1.0.0/16"))])).code, 0);
  const client = new ResourceClient(bed.store);
  const before = await client.get<IPPool>("IPPool", "a");
  const two = `${pool("a", "10.1.0.0/16", "  disabled: true\n")}---\n${pool("b", "10.2.0.0/16")}`;
  const snap = await snapshot(bed.store);
  const r = await cli(replace, ["-f", file("two.yaml", two)]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /two\.yaml: document 2: resource does not exist: IPPool\(b\); nothing was replaced \[DS_NOT_FOUND\]/);
  assert.deepEqual(await snapshot(bed.store), snap);
  const ok = await cli(replace, ["-f", file("one.yaml", pool("a", "10.1.0.0/16", "  disabled: true\n"))]);
  assert.deepEqual(ok, { code: 0, stdout: "Successfully replaced 1 resource(s)\n", stderr: "" });
  const now = await client.get<IPPool>("IPPool", "a");
  assert.equal(now!.spec.disabled, true);
  assert.equal(now!.metadata.uid, before!.metadata.uid);
  // A stale resourceVersion is a conflict.
  const stale = pool("a", "10.1.0.0/16").replace("  name: a\n", `  name: a\n  resourceVersion: "${before!.metadata.resourceVersion}"\n`);
  const c = await cli(replace, ["-f", file("stale.yaml", stale)]);
  assert.equal(c.code, 1);
  assert.match(c.stderr, /DS_CONFLICT/);
});

test("patch: a JSON merge patch, validated; invalid results and immutable fields change nothing", async () => {
  await cli(apply, ["-f", file("a.yaml", pool("a", "10.1.0.0/16", "  natOutgoing: true\n"))]);
  const client = new ResourceClient(bed.store);
  const ok = await cli(patch, ["ippool", "a", "-p", '{"spec":{"disabled":true,"natOutgoing":null},"metadata":{"labels":{"x":"y"}}}']);
  assert.deepEqual(ok, { code: 0, stdout: "Successfully patched 1 'IPPool' resource\n", stderr: "" });
  const p = await client.get<IPPool>("IPPool", "a");
  assert.equal(p!.spec.disabled, true);
  assert.equal(p!.spec.natOutgoing, undefined, "null removes the field");
  assert.deepEqual(p!.metadata.labels, { x: "y" });
  const snap = await snapshot(bed.store);
  const bad = await cli(patch, ["ippool", "a", "-p", '{"spec":{"blockSize":40}}']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /-p: invalid IPPool "a": spec\.blockSize: .*\[MODEL_INVALID\]/);
  const rename = await cli(patch, ["ippool", "a", "-p", '{"metadata":{"name":"b"}}']);
  assert.match(rename.stderr, /metadata\.name: cannot be changed by a patch/);
  const notJson = await cli(patch, ["ippool", "a", "-p", "{spec"]);
  assert.match(notJson.stderr, /not JSON.*\[CLI_PATCH\]/);
  const absent = await cli(patch, ["ippool", "zz", "-p", "{}"]);
  assert.match(absent.stderr, /resource does not exist: IPPool\(zz\) \[DS_NOT_FOUND\]/);
  assert.deepEqual(await snapshot(bed.store), snap);
});

test("label: add, refuse to change without --overwrite, overwrite, remove with k- and --remove", async () => {
  await cli(apply, ["-f", file("a.yaml", pool("a", "10.1.0.0/16"))]);
  const client = new ResourceClient(bed.store);
  const labels = async () => (await client.get("IPPool", "a"))!.metadata.labels ?? {};
  assert.equal((await cli(label, ["ippool", "a", "rack=r1", "zone=z"])).code, 0);
  assert.deepEqual(await labels(), { rack: "r1", zone: "z" });
  const refused = await cli(label, ["ippool", "a", "rack=r2"]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /already has label rack=r1; use --overwrite/);
  assert.deepEqual(await labels(), { rack: "r1", zone: "z" });
  assert.equal((await cli(label, ["ippool", "a", "rack=r2", "--overwrite"])).code, 0);
  assert.equal((await cli(label, ["ippool", "a", "zone-"])).code, 0);
  assert.deepEqual(await labels(), { rack: "r2" });
  assert.equal((await cli(label, ["ippool", "a", "rack", "--remove"])).code, 0);
  assert.deepEqual(await labels(), {});
  assert.match((await cli(label, ["ippool", "a", "nope-"])).stderr, /has no label "nope" \[CLI_LABEL\]/);
  const invalid = await cli(label, ["ippool", "a", "bad key!=v"]);
  assert.equal(invalid.code, 1);
  assert.match(invalid.stderr, /MODEL_INVALID/);
  assert.deepEqual(await labels(), {});
});

/**
 * A store whose `n`th write (create/update/put/delete/commitBatch, counted from 1) fails as if etcd
 * went away; with `maxBatchOps` it takes at most that many writes in one commit (as etcd does).
 */
function failingOnWrite(inner: Store, n: number, maxBatchOps?: number): Store {
  let writes = 0;
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === "maxBatchOps") return maxBatchOps;
      const v: unknown = Reflect.get(target, prop, receiver);
      if (typeof v !== "function") return v;
      if (["create", "update", "put", "delete", "commitBatch"].includes(prop as string)) {
        return async (...args: unknown[]) => {
          if (++writes === n) throw new DatastoreError("DS_UNAVAILABLE", "injected: datastore unavailable");
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return (v as (...a: unknown[]) => unknown).bind(target);
    },
  });
}

test("apply of many documents is one commit: when it fails, nothing is written", async () => {
  await cli(apply, ["-f", file("base.yaml", `${pool("a", "10.1.0.0/16")}---\n${pool("b", "10.2.0.0/16")}`)]);
  const snap = await snapshot(bed.store);
  const docs = [
    pool("a", "10.1.0.0/16", "  disabled: true\n"),
    pool("c", "10.3.0.0/16"),
    pool("b", "10.2.0.0/16", "  disabled: true\n"),
    pool("d", "10.4.0.0/16"),
  ].join("---\n");
  useStoreForTests(failingOnWrite(bed.store, 1));
  const r = await cli(apply, ["-f", file("four.yaml", docs)]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /the commit of 4 write\(s\) failed: injected: datastore unavailable; nothing was changed \[DS_UNAVAILABLE\]/);
  assert.deepEqual(await snapshot(bed.store), snap);
});

test("apply larger than one backend transaction: a datastore failure mid-way rolls back the earlier writes (journal)", async () => {
  await cli(apply, ["-f", file("base.yaml", `${pool("a", "10.1.0.0/16")}---\n${pool("b", "10.2.0.0/16")}`)]);
  const snap = await snapshot(bed.store);
  // Update a, create c, update b (fails: the 3rd write), create d; the backend takes 2 ops per commit.
  const docs = [
    pool("a", "10.1.0.0/16", "  disabled: true\n"),
    pool("c", "10.3.0.0/16"),
    pool("b", "10.2.0.0/16", "  disabled: true\n"),
    pool("d", "10.4.0.0/16"),
  ].join("---\n");
  useStoreForTests(failingOnWrite(bed.store, 3, 2));
  const r = await cli(apply, ["-f", file("four.yaml", docs)]);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /four\.yaml: document 3: IPPool\(b\): injected: datastore unavailable \(the 2 write\(s\) made before it were rolled back; nothing was changed\) \[DS_UNAVAILABLE\]/,
  );
  assert.deepEqual(await snapshot(bed.store), snap);
});

test("apply: a write refused by the datastore-level checks mid-way (immutable field) rolls back too", async () => {
  await cli(apply, ["-f", file("base.yaml", pool("a", "10.1.0.0/16"))]);
  const snap = await snapshot(bed.store);
  const docs = [pool("n", "10.9.0.0/16"), pool("a", "10.7.0.0/16")].join("---\n");
  const r = await cli(apply, ["-f", file("two.yaml", docs)]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /two\.yaml: document 2: IPPool\(a\): .*spec\.cidr: cannot be changed.*\(nothing was changed\) \[MODEL_INVALID\]/);
  assert.deepEqual(await snapshot(bed.store), snap);
});

test("create: a failure mid-way rolls back the resources created before it", async () => {
  const snap = await snapshot(bed.store);
  useStoreForTests(failingOnWrite(bed.store, 2, 1));
  const r = await cli(create, ["-f", file("c.yaml", [pool("x", "10.5.0.0/16"), pool("y", "10.6.0.0/16")].join("---\n"))]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /rolled back; nothing was changed/);
  assert.deepEqual(await snapshot(bed.store), snap);
});

test("datastore export then import into another store reproduces every resource and IPAM key; leased keys are left out", async () => {
  await cli(apply, ["-f", file("base.yaml", `${pool("a", "10.1.0.0/16")}---\n${pool("b", "fd00:1::/48")}`)]);
  await cli(apply, [
    "-f",
    file(
      "np.yaml",
      `apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata:\n  name: allow-web\n  namespace: prod\nspec:\n  selector: app == 'web'\n  ingress:\n  - action: Allow\n`,
    ),
  ]);
  const block = JSON.stringify({
    cidr: "10.1.0.0/26",
    affinity: "host:h1",
    allocations: [0, null],
    unallocated: [1],
    attributes: [{ handle_id: "h" }],
    deleted: false,
  });
  await bed.store.put("/calico/ipam/v2/assignment/ipv4/block/10.1.0.0-26", block);
  await bed.store.put("/calico/ipam/v2/host/h1/ipv4/block/10.1.0.0-26", '{"state":"confirmed","deleted":"false"}');
  await bed.store.put("/calico/ipam/v2/handle/h", '{"block":{"10.1.0.0/26":1},"deleted":false}');
  const lease = await bed.store.grantLease(60);
  await bed.store.put("/calico/felix/v1/host/h1/status", "alive", { lease });
  for (const format of ["yaml", "json"]) {
    const out = join(bed.dir, `dump.${format}`);
    const ex = await cli(dsExport, ["-o", out]);
    assert.equal(ex.code, 0, ex.stderr);
    assert.match(ex.stderr, /Exported 6 key\(s\) \(1 leased key\(s\) skipped\)/);
    const target = new MemoryStore();
    useStoreForTests(target);
    const im = await cli(dsImport, ["-f", out]);
    assert.equal(im.code, 0, im.stderr);
    const want = await snapshot(bed.store);
    delete want["/calico/felix/v1/host/h1/status"];
    // Values are compared as objects: resourceVersion is never stored, so they are equal as stored.
    const got = await snapshot(target);
    assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort());
    for (const k of Object.keys(want)) assert.deepEqual(JSON.parse(got[k]!), JSON.parse(want[k]!), k);
    // A non-empty target is refused unless --force.
    const again = await cli(dsImport, ["-f", out]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /is not empty .*nothing was imported \(--force overwrites\) \[DS_ALREADY_EXISTS\]/);
    assert.equal((await cli(dsImport, ["-f", out, "--force"])).code, 0);
    useStoreForTests(bed.store);
  }
  assert.match(readFileSync(join(bed.dir, "dump.yaml"), "utf8"), /kind: DatastoreKey\nkey: \/calico\/ipam\/v2\/assignment\/ipv4\/block\/10.1.0.0-26\n/);
});

test("datastore import: a bad document names the file, the document and the field path, and writes nothing", async () => {
  const text = `---\n${pool("a", "10.1.0.0/16")}---\n${pool("b", "10.2.0.0/16", "  blockSize: 40\n")}---\napiVersion: tabby/v1\nkind: DatastoreKey\nkey: /calico/ipam/v2/handle/x\nvalue: "{}"\n`;
  const f = file("bad-dump.yaml", text);
  const r = await cli(dsImport, ["-f", f]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`${f.replace(/[.]/g, "\\.")}: document 2: invalid IPPool "b": spec\\.blockSize: .*\\[MODEL_INVALID\\]`));
  assert.deepEqual(await snapshot(bed.store), {});
  const raw = await cli(dsImport, ["-f", file("bad-raw.yaml", "apiVersion: tabby/v1\nkind: DatastoreKey\nkey: /elsewhere\nvalue: 3\n")]);
  assert.match(raw.stderr, /document 1: invalid DatastoreKey "\/elsewhere": key: must be a string under \/calico\/; value: must be a string/);
  assert.deepEqual(await snapshot(bed.store), {});
});
