/**
 * Calico-documentation-like examples (test/fixtures/calico-examples/, written for this test) go
 * through the real `tabby` binary in order, against one SQLite datastore, each with the outcome
 * expected.yaml gives: applied (exit 0, the count of resources) or refused (exit 1, a message
 * naming the field and why, and the datastore exactly as before).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, test } from "node:test";
import { parse } from "yaml";
import { SqliteStore } from "../src/datastore/sqlite.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const DIR = join(ROOT, "test/fixtures/calico-examples");
const BIN = join(ROOT, "dist/src/cli/main.js");
const tmp = mkdtempSync(join(tmpdir(), "ttd2-examples-"));
const db = join(tmp, "tabby.db");
after(() => rmSync(tmp, { recursive: true, force: true }));

function tabby(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args, "--datastore", `sqlite://${db}`], { env: { ...process.env, TABBY_LAB_ROOT: tmp } }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

async function snapshot(): Promise<Record<string, string>> {
  const s = SqliteStore.open(db);
  try {
    return Object.fromEntries((await s.list("/")).items.map((kv) => [kv.key, kv.value]));
  } finally {
    await s.close();
  }
}

interface Expected {
  file: string;
  verb?: "apply" | "create" | "delete";
  applied?: number;
  refused?: string;
}
const expected = parse(readFileSync(join(DIR, "expected.yaml"), "utf8")) as Expected[];

test("every example has an expected outcome", () => {
  const files = readdirSync(DIR)
    .filter((f) => f.endsWith(".yaml") && f !== "expected.yaml")
    .sort();
  assert.deepEqual(expected.map((e) => e.file).sort(), files);
});

for (const e of expected) {
  test(`${e.file}: ${e.refused !== undefined ? "refused, naming the field; nothing changes" : `${e.verb ?? "apply"} succeeds`}`, async () => {
    const verb = e.verb ?? "apply";
    const before = await snapshot().catch(() => ({}));
    const r = await tabby(verb, "-f", join(DIR, e.file));
    if (e.refused !== undefined) {
      assert.equal(r.code, 1, r.stdout);
      assert.equal(r.stdout, "");
      assert.match(r.stderr, new RegExp(`^tabby ${verb}: .*${e.file.replace(/\./g, "\\.")}: document \\d+: .*${e.refused}`));
      assert.deepEqual(await snapshot(), before);
    } else {
      assert.deepEqual(r, {
        code: 0,
        stdout: `Successfully ${{ apply: "applied", create: "created", delete: "deleted" }[verb]} ${e.applied} resource(s)\n`,
        stderr: "",
      });
    }
  });
}
