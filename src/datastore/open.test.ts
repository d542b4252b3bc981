import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { hasCode } from "../errors.js";
import { MemoryStore } from "./memory.js";
import { DEFAULT_DATASTORE_URL, openStore, parseDatastoreUrl, resolveDatastoreUrl } from "./open.js";
import { SqliteStore } from "./sqlite.js";

const root = mkdtempSync(join(tmpdir(), "ttds-open-"));
after(() => rmSync(root, { recursive: true, force: true }));
const noLab = join(root, "no-such-lab.json");

test("resolveDatastoreUrl: flag, then TABBY_DATASTORE, then the running lab, then the default", () => {
  const lab = join(root, "current.json");
  writeFileSync(lab, JSON.stringify({ datastore: "sqlite:///run/lab.db", hosts: 3 }));
  const env = { TABBY_DATASTORE: "sqlite:///env.db" };
  assert.equal(resolveDatastoreUrl("sqlite:///flag.db", env, lab), "sqlite:///flag.db");
  assert.equal(resolveDatastoreUrl(undefined, env, lab), "sqlite:///env.db");
  assert.equal(resolveDatastoreUrl("", { TABBY_DATASTORE: "" }, lab), "sqlite:///run/lab.db");
  assert.equal(resolveDatastoreUrl(undefined, {}, noLab), DEFAULT_DATASTORE_URL);
  assert.equal(DEFAULT_DATASTORE_URL, "sqlite:///var/lib/tabby/tabby.db");
});

test("resolveDatastoreUrl: a broken lab file is an error, not a silent fallback", () => {
  const lab = join(root, "broken.json");
  writeFileSync(lab, "{not json");
  assert.throws(
    () => resolveDatastoreUrl(undefined, {}, lab),
    (e) => hasCode(e, "DS_BAD_URL"),
  );
  writeFileSync(lab, JSON.stringify({ datastore: 3 }));
  assert.throws(
    () => resolveDatastoreUrl(undefined, {}, lab),
    (e) => hasCode(e, "DS_BAD_URL"),
  );
});

test("parseDatastoreUrl accepts the three forms and rejects the rest naming the URL", () => {
  assert.deepEqual(parseDatastoreUrl("sqlite:///var/lib/x.db"), { kind: "sqlite", path: "/var/lib/x.db" });
  assert.deepEqual(parseDatastoreUrl("memory://"), { kind: "memory" });
  assert.deepEqual(parseDatastoreUrl("etcd://10.0.0.1:2379,10.0.0.2:2379"), { kind: "etcd", endpoints: ["10.0.0.1:2379", "10.0.0.2:2379"] });
  for (const bad of ["sqlite://relative/path.db", "sqlite:///", "sqlite:relative", "/var/lib/x.db", "mysql://x", "", "memory://x", "etcd://"]) {
    assert.throws(
      () => parseDatastoreUrl(bad),
      (e: unknown) => hasCode(e, "DS_BAD_URL") && (e as Error).message.includes(JSON.stringify(bad)) && (e as Error).message.includes("sqlite:///"),
      bad,
    );
  }
});

test("openStore opens SQLite and memory stores; an unreachable etcd is DS_UNAVAILABLE", async () => {
  const path = join(root, "d", "t.db");
  const s = await openStore(`sqlite://${path}`);
  assert.ok(s instanceof SqliteStore);
  assert.equal(s.url, `sqlite://${path}`);
  await s.put("/a", "1");
  await s.close();
  const m = await openStore("memory://");
  assert.ok(m instanceof MemoryStore);
  await assert.rejects(
    openStore("etcd://127.0.0.1:1?dialTimeoutMs=500"),
    (e: unknown) => hasCode(e, "DS_UNAVAILABLE") && /127\.0\.0\.1:1/.test((e as Error).message),
  );
  await assert.rejects(openStore("sqlite://rel.db"), (e) => hasCode(e, "DS_BAD_URL"));
  const viaEnv = await openStore(undefined, { TABBY_DATASTORE: `sqlite://${path}` });
  assert.equal((await viaEnv.get("/a"))?.value, "1");
  await viaEnv.close();
});
