/**
 * All or nothing, even when interrupted (issue #12 step 5): SIGINT during a large `tabby apply`
 * (the real binary) leaves the datastore exactly as it was, and the command says what it did.
 *   - SQLite, 50,000 documents: one transaction; the signal arrives while the documents are being
 *     checked against the store, before the commit: nothing is written (exit 130).
 *   - etcd, 1,000 documents: more than one etcd Txn takes (128 ops), so they go through the undo
 *     journal; the signal arrives while they are being written, and every write made is undone.
 * The signal is sent when the command reports its progress (a line on stderr), never after a
 * guessed delay; only the child this test spawned is signalled, by its pid.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, test } from "node:test";
import { SqliteStore } from "../src/datastore/sqlite.js";
import { EtcdStore, parseEtcdUrl } from "../src/datastore/etcd.js";
import type { Store } from "../src/datastore/store.js";
import { startEtcd, type EtcdServer } from "./etcd-server.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = join(ROOT, "dist/src/cli/main.js");
const dir = mkdtempSync(join(tmpdir(), "ttd2-intr-"));
let etcd: EtcdServer | undefined;
after(async () => {
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function manifests(n: number, prefix: string): string {
  let s = "";
  for (let i = 0; i < n; i++) {
    s += `---\napiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata:\n  name: ${prefix}-${i}\n  labels:\n    role: r${i % 7}\nspec:\n  nets:\n  - 10.${(i >> 8) & 255}.${i & 255}.0/24\n`;
  }
  return s;
}

/** Runs `tabby ARGS`; sends SIGINT to it once a stderr line matches `when`. */
function runInterrupted(
  args: string[],
  when: RegExp,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; stdout: string; sent: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, TABBY_LAB_ROOT: dir } });
    let stderr = "";
    let stdout = "";
    let sent = false;
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => {
      stderr += d;
      if (!sent && when.test(stderr)) {
        sent = true;
        process.kill(child.pid!, "SIGINT");
      }
    });
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stderr, stdout, sent }));
  });
}

async function snapshot(s: Store): Promise<Record<string, string>> {
  return Object.fromEntries((await s.list("/")).items.map((kv) => [kv.key, kv.value]));
}

async function seed(datastore: string): Promise<void> {
  const f = join(dir, `seed-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(f, `${manifests(3, "seed")}---\napiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: p\nspec:\n  cidr: 10.200.0.0/16\n`);
  const r = await runInterrupted(["apply", "-f", f, "--datastore", datastore], /^$/);
  assert.equal(r.code, 0, r.stderr);
}

test("SIGINT during a 50,000-document apply on SQLite: nothing is written, and it says so", { timeout: 600_000 }, async () => {
  const db = join(dir, "tabby.db");
  const datastore = `sqlite://${db}`;
  await seed(datastore);
  const before = await withSqlite(db, snapshot);
  const big = join(dir, "big.yaml");
  writeFileSync(big, manifests(50_000, "set"));
  const r = await runInterrupted(["apply", "-f", big, "--datastore", datastore], /resource\(s\) checked\n/);
  assert.ok(r.sent, `no progress line seen: ${r.stderr}`);
  assert.equal(r.code, 130, r.stderr);
  assert.match(
    r.stderr,
    /tabby apply: interrupted by SIGINT after \d+ of 50000 resource\(s\) were checked; nothing was written \(nothing had been committed\) \[CLI_INTERRUPTED\]\n$/,
  );
  assert.doesNotMatch(r.stdout, /Successfully/);
  assert.deepEqual(await withSqlite(db, snapshot), before);
});

test("SIGINT while a 1,000-document apply is written to etcd through the journal: every write is undone", { timeout: 600_000 }, async () => {
  etcd = await startEtcd();
  await seed(etcd.url);
  const store = await EtcdStore.open(parseEtcdUrl(etcd.url));
  try {
    const before = await snapshot(store);
    const f = join(dir, "thousand.yaml");
    writeFileSync(f, manifests(1000, "e"));
    const r = await runInterrupted(["apply", "-f", f, "--datastore", etcd.url], /resource\(s\) written\n/);
    assert.ok(r.sent, `no progress line seen: ${r.stderr}`);
    assert.equal(r.code, 130, r.stderr);
    assert.match(
      r.stderr,
      /tabby apply: interrupted by SIGINT after (\d+) of 1000 write\(s\) \(the \1 write\(s\) made before it were rolled back; nothing was changed\) \[CLI_INTERRUPTED\]\n$/,
    );
    assert.deepEqual(await snapshot(store), before);
  } finally {
    await store.close();
  }
});

async function withSqlite<T>(db: string, fn: (s: SqliteStore) => Promise<T>): Promise<T> {
  const s = SqliteStore.open(db);
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}
