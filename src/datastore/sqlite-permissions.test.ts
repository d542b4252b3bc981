// The SQLite store refuses a database others can write (issue 19): the pure rule on modes and
// owners, and real files: a new database is created 0600 (its WAL and SHM files too) in a
// directory made 0700; a world-writable directory, a world-writable file, a file writable by a
// non-root group and a file owned by another user are each refused with DS_INSECURE_PERMISSIONS
// naming the path and the chmod that fixes it, and nothing is opened.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { permissionProblem } from "./sqlite-permissions.js";
import { SqliteStore } from "./sqlite.js";

const root = mkdtempSync(join(tmpdir(), "tabby-sqlite-perm-"));
after(() => rmSync(root, { recursive: true, force: true }));

const FILE = 0o100000;
const DIR = 0o040000;

test("permissionProblem: others' write bits, a non-root group's write bit and a foreign owner are problems", () => {
  assert.equal(permissionProblem("/d", { mode: DIR | 0o700, uid: 0, gid: 0 }, 0), undefined);
  assert.equal(permissionProblem("/d", { mode: DIR | 0o755, uid: 0, gid: 0 }, 0), undefined);
  assert.equal(permissionProblem("/d", { mode: DIR | 0o770, uid: 0, gid: 0 }, 0), undefined, "group root may write");
  assert.equal(permissionProblem("/f", { mode: FILE | 0o600, uid: 1000, gid: 1000 }, 1000), undefined, "a user's own store");
  assert.match(
    permissionProblem("/tmp", { mode: DIR | 0o1777, uid: 0, gid: 0 }, 0)!,
    /^directory \/tmp is writable by every user \(mode 1777\): chmod 700 \/tmp$/,
  );
  assert.match(permissionProblem("/f", { mode: FILE | 0o666, uid: 0, gid: 0 }, 0)!, /file \/f is writable by every user \(mode 0666\): chmod 600 \/f/);
  assert.match(permissionProblem("/f", { mode: FILE | 0o660, uid: 0, gid: 50 }, 0)!, /writable by group 50, not root's/);
  assert.match(permissionProblem("/f", { mode: FILE | 0o600, uid: 1000, gid: 0 }, 0)!, /owned by uid 1000, neither root nor this user/);
  assert.match(permissionProblem("/f", { mode: FILE | 0o600, uid: 1001, gid: 0 }, 1000)!, /owned by uid 1001/);
});

test("a new store: the directory 0700, the database and its WAL and SHM files 0600", async () => {
  const db = join(root, "new", "deeper", "tabby.db");
  const s = SqliteStore.open(db);
  try {
    await s.put("/k", "v");
    assert.equal(statSync(join(root, "new", "deeper")).mode & 0o777, 0o700);
    for (const f of [db, `${db}-wal`, `${db}-shm`]) {
      assert.ok(existsSync(f), f);
      assert.equal(statSync(f).mode & 0o777, 0o600, f);
    }
  } finally {
    await s.close();
  }
});

for (const [what, prepare, path] of [
  ["a world-writable directory", (d: string) => chmodSync(d, 0o777), (d: string) => d],
  ["a sticky world-writable directory (like /tmp)", (d: string) => chmodSync(d, 0o1777), (d: string) => d],
  ["a world-writable database file", (d: string) => chmodSync(join(d, "tabby.db"), 0o666), (d: string) => join(d, "tabby.db")],
  ["a world-writable WAL file", (d: string) => writeFileSync(join(d, "tabby.db-wal"), "", { mode: 0o622 }), (d: string) => join(d, "tabby.db-wal")],
  [
    "a database file writable by a non-root group",
    (d: string) => {
      chownSync(join(d, "tabby.db"), 0, 100);
      chmodSync(join(d, "tabby.db"), 0o660);
    },
    (d: string) => join(d, "tabby.db"),
  ],
  ["a database file owned by another user", (d: string) => chownSync(join(d, "tabby.db"), 65534, 65534), (d: string) => join(d, "tabby.db")],
] as const) {
  test(`refuses ${what}, naming the path and the fix`, { skip: process.getuid?.() !== 0 && "needs root (chown)" }, async () => {
    const d = mkdtempSync(join(root, "case-"));
    const db = join(d, "tabby.db");
    await SqliteStore.open(db).close();
    rmSync(`${db}-wal`, { force: true });
    rmSync(`${db}-shm`, { force: true });
    const umask = process.umask(0);
    try {
      prepare(d);
    } finally {
      process.umask(umask);
    }
    const bad = path(d);
    assert.throws(
      () => SqliteStore.open(db),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, "DS_INSECURE_PERMISSIONS");
        assert.ok(err.message.includes(`${bad} is`), err.message);
        assert.match(err.message, /: (chmod|chown) /);
        return true;
      },
    );
  });
}

test("a store in a directory we cannot create still fails as unavailable", () => {
  mkdirSync(join(root, "plain"), { mode: 0o700 });
  writeFileSync(join(root, "plain", "file"), "");
  assert.throws(() => SqliteStore.open(join(root, "plain", "file", "tabby.db")), { code: "DS_UNAVAILABLE" });
});
