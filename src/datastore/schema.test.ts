import { test } from "node:test";
import assert from "node:assert/strict";
import { MemoryStore } from "./memory.js";
import { SCHEMA_KEY, decideSchema, ensureSchema } from "./schema.js";
import { hasCode } from "../errors.js";

const me = { version: 2, minReader: 1, tabby: "0.3.0" };
const rec = (version: number, minReader: number, writtenBy = "x") => ({ value: JSON.stringify({ version, minReader, writtenBy }), revision: 7 });

test("schema: an empty datastore gets this tabby's record", () => {
  assert.deepEqual(decideSchema(undefined, me), { action: "write", record: { version: 2, minReader: 1, writtenBy: "0.3.0" } });
});

test("schema: same or newer compatible schema is kept (a rolling upgrade runs old beside new)", () => {
  assert.deepEqual(decideSchema(rec(2, 1), me), { action: "keep" });
  assert.deepEqual(decideSchema(rec(5, 2), me), { action: "keep" });
});

test("schema: an older schema is raised, minReader never lowered", () => {
  assert.deepEqual(decideSchema(rec(1, 1), me), { action: "write", record: { version: 2, minReader: 1, writtenBy: "0.3.0" }, revision: 7 });
  assert.deepEqual(decideSchema(rec(1, 1), { ...me, minReader: 0 }), {
    action: "write",
    record: { version: 2, minReader: 1, writtenBy: "0.3.0" },
    revision: 7,
  });
});

test("schema: a datastore that needs a newer reader is refused, naming both versions", () => {
  assert.throws(
    () => decideSchema(rec(3, 3, "0.9.0"), me),
    (e: unknown) => hasCode(e, "DS_SCHEMA_TOO_NEW") && /0\.9\.0/.test((e as Error).message) && /0\.3\.0/.test((e as Error).message),
  );
});

test("schema: a malformed record is an error, not a silent overwrite", () => {
  assert.throws(
    () => decideSchema({ value: "nope", revision: 1 }, me),
    (e: unknown) => hasCode(e, "DS_SCHEMA_BAD"),
  );
  assert.throws(
    () => decideSchema({ value: '{"version":"2"}', revision: 1 }, me),
    (e: unknown) => hasCode(e, "DS_SCHEMA_BAD"),
  );
});

test("schema: ensureSchema writes, keeps, upgrades and refuses against a store", async () => {
  const store = new MemoryStore();
  try {
    assert.deepEqual(await ensureSchema(store, "0.2.0", { version: 1, minReader: 1 }), { version: 1, minReader: 1, writtenBy: "0.2.0" });
    assert.deepEqual(await ensureSchema(store, "0.3.0", { version: 2, minReader: 1 }), { version: 2, minReader: 1, writtenBy: "0.3.0" });
    // the old agent still runs against schema 2 (minReader 1) and does not lower it
    assert.deepEqual(await ensureSchema(store, "0.2.0", { version: 1, minReader: 1 }), { version: 2, minReader: 1, writtenBy: "0.3.0" });
    await store.put(SCHEMA_KEY, JSON.stringify({ version: 3, minReader: 3, writtenBy: "1.0.0" }));
    await assert.rejects(ensureSchema(store, "0.2.0", { version: 1, minReader: 1 }), (e: unknown) => hasCode(e, "DS_SCHEMA_TOO_NEW"));
    assert.equal(JSON.parse((await store.get(SCHEMA_KEY))!.value).version, 3);
  } finally {
    await store.close();
  }
});
