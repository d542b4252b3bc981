/**
 * Opening the SQLite store's file (sqlite.ts): finding better-sqlite3's addon in the bundled CNI
 * plugins, creating or checking the schema, opening read-only when this process may not write,
 * and translating SQLite's errors — a corrupt or foreign file (DS_CORRUPT), a lock held too long
 * or an I/O failure (DS_UNAVAILABLE) — into DatastoreErrors.
 */
import Database from "better-sqlite3";
import { accessSync, constants as fsConstants, existsSync, mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { securePaths } from "./sqlite-permissions.js";
import { DatastoreError } from "./store.js";

/**
 * In the bundled CNI plugins (scripts/build-cni.mjs) the build names better-sqlite3's addon,
 * relative to the bundle, so that opening a database skips the `bindings` package's search.
 */
declare const __TABBY_SQLITE_ADDON__: string | undefined;
let bundledAddonMemo: string | object | undefined;
function bundledAddon(): string | object | undefined {
  if (typeof __TABBY_SQLITE_ADDON__ !== "string") return undefined;
  if (bundledAddonMemo) return bundledAddonMemo;
  const pinned = join(__dirname, __TABBY_SQLITE_ADDON__);
  if (existsSync(pinned)) return (bundledAddonMemo = pinned);
  // The bundle runs where its build's layout does not hold (dependencies hoisted by another
  // installer, another platform's prebuild): better-sqlite3's own search, from where it is installed.
  const req = createRequire(join(__dirname, "bundle.cjs"));
  const dir = dirname(req.resolve("better-sqlite3/package.json"));
  return (bundledAddonMemo = (req(join(dir, "lib/binding.js")) as { getBinding(n?: unknown): object }).getBinding());
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS kv (
  key TEXT PRIMARY KEY NOT NULL,
  value TEXT NOT NULL,
  revision INTEGER NOT NULL,
  create_revision INTEGER NOT NULL,
  lease INTEGER
);
CREATE INDEX IF NOT EXISTS kv_lease ON kv(lease) WHERE lease IS NOT NULL;
CREATE TABLE IF NOT EXISTS history (
  revision INTEGER PRIMARY KEY,
  key TEXT NOT NULL,
  type TEXT NOT NULL CHECK (type IN ('put', 'delete')),
  value TEXT,
  create_revision INTEGER,
  lease INTEGER,
  prev_value TEXT,
  prev_revision INTEGER,
  prev_create_revision INTEGER,
  prev_lease INTEGER
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (name, value) VALUES ('compacted_to', 0);
CREATE TABLE IF NOT EXISTS leases (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  ttl_ms INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS leases_expiry ON leases(expires_at);
`;

/** Whether this process may write the database file and its directory (for the WAL and SHM files). */
function writable(path: string): boolean {
  try {
    if (existsSync(path)) accessSync(path, fsConstants.W_OK);
    accessSync(dirname(path), fsConstants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Opens a database this process may only read. SQLite reads a WAL database read-only when its
 * -shm file exists (a writer has it open); when none does and the directory is read-only it
 * cannot make one, so the file is read into memory instead (the header's WAL mark cleared): a
 * snapshot, which is what a one-shot reader needs.
 */
function openReadOnly(path: string, addon: { nativeBinding?: string }): Database.Database {
  try {
    const db = new Database(path, { readonly: true, fileMustExist: true, ...addon });
    db.pragma("user_version", { simple: true });
    return db;
  } catch (err) {
    if (!(isSqliteError(err) && (err.code === "SQLITE_READONLY_DIRECTORY" || err.code === "SQLITE_CANTOPEN" || err.code.startsWith("SQLITE_READONLY"))))
      throw err;
  }
  const bytes = readFileSync(path);
  if (bytes.length >= 20 && bytes[18] === 2 && bytes[19] === 2) bytes[18] = bytes[19] = 1;
  return new Database(bytes, { readonly: true, ...addon });
}

export function isSqliteError(err: unknown): err is Error & { code: string } {
  return err instanceof Error && err.name === "SqliteError" && typeof (err as { code?: unknown }).code === "string";
}

/** What an error message names: the store's URL and file, and whether it was opened read-only. */
export interface SqliteErrorContext {
  readonly url: string;
  readonly path: string;
  readonly readOnly: boolean;
}

/** The options of SqliteStoreOptions that opening reads (documented there). */
export interface OpenOptions {
  synchronous?: "full" | "normal";
  busyTimeoutMs?: number;
  create?: boolean;
}

/**
 * Open (creating if needed: the file 0600, its parent directory 0700) the database at `path` and
 * create its schema, or, read-only, check it; refuses files or a directory others can write
 * (sqlite-permissions.ts).
 */
export function openDatabase(path: string, url: string, opts: OpenOptions): { db: Database.Database; readOnly: boolean } {
  const ctx = { url, path, readOnly: false };
  const busy = opts.busyTimeoutMs ?? 5_000;
  const addon = bundledAddon() ? { nativeBinding: bundledAddon() as string } : {};
  let db: Database.Database;
  try {
    if (path !== ":memory:") {
      if (opts.create === false && !existsSync(path)) {
        throw new DatastoreError(
          "DS_NO_DATABASE",
          `${url}: no datastore there: ${path} does not exist (reading never creates one; check the path, or write to it first with tabby apply or tabby node run)`,
          { path },
        );
      }
      if (opts.create !== false) mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      securePaths(path);
      ctx.readOnly = !writable(path);
    }
    db = ctx.readOnly ? openReadOnly(path, addon) : new Database(path, { timeout: busy, ...addon });
  } catch (err) {
    if (err instanceof DatastoreError) throw err;
    const e = translate(ctx, err, "cannot open");
    throw e instanceof DatastoreError ? e : unavailable(ctx, err, "cannot open");
  }
  try {
    if (ctx.readOnly) {
      const version = db.pragma("user_version", { simple: true }) as number;
      if (version > 1) throw new DatastoreError("DS_UNAVAILABLE", `${url}: schema version ${version} is newer than this tabby understands`);
      if (version < 1)
        throw new DatastoreError("DS_CORRUPT", `${url}: ${path} is an SQLite database but not a tabby datastore (no schema), and it is read-only here`, {
          path,
        });
    } else {
      // journal_mode needs a moment of exclusive access; a concurrent opener may hold it (busy_timeout applies).
      db.pragma("journal_mode = WAL");
      db.pragma(`synchronous = ${opts.synchronous === "normal" ? "NORMAL" : "FULL"}`);
      db.transaction(() => {
        const version = db.pragma("user_version", { simple: true }) as number;
        if (version > 1) throw new DatastoreError("DS_UNAVAILABLE", `${url}: schema version ${version} is newer than this tabby understands`);
        db.exec(SCHEMA);
        if (version < 1) db.pragma("user_version = 1");
      }).immediate();
    }
  } catch (err) {
    db.close();
    throw translate(ctx, err);
  }
  return { db, readOnly: ctx.readOnly };
}

export function unavailable(ctx: SqliteErrorContext, err: unknown, what: string): DatastoreError {
  const code = isSqliteError(err) ? err.code : (err as NodeJS.ErrnoException)?.code;
  return new DatastoreError("DS_UNAVAILABLE", `${ctx.url}: ${what}: ${(err as Error)?.message ?? String(err)}`, { url: ctx.url, code }, { cause: err });
}

export function asDatastoreError(ctx: SqliteErrorContext, err: unknown): DatastoreError {
  const e = translate(ctx, err);
  return e instanceof DatastoreError ? e : unavailable(ctx, err, "unexpected error");
}

export function translate(ctx: SqliteErrorContext, err: unknown, what = "sqlite error"): unknown {
  if (err instanceof DatastoreError) return err;
  // Not a database, or a damaged one: retrying will not help, so it is not DS_UNAVAILABLE.
  if (isSqliteError(err) && (err.code === "SQLITE_NOTADB" || err.code.startsWith("SQLITE_CORRUPT"))) {
    return new DatastoreError(
      "DS_CORRUPT",
      `${ctx.url}: the file ${ctx.path} is corrupt or not an SQLite database (${err.message}); restore it from a backup (tabby datastore export/import)`,
      { path: ctx.path, code: err.code },
      { cause: err },
    );
  }
  if (isSqliteError(err) && ctx.readOnly && err.code.startsWith("SQLITE_READONLY")) {
    return new DatastoreError(
      "DS_UNAVAILABLE",
      `${ctx.url}: opened read-only: this user (uid ${process.getuid?.() ?? "?"}) may not write ${ctx.path} or its directory`,
      { url: ctx.url, code: err.code },
      { cause: err },
    );
  }
  if (isSqliteError(err)) return unavailable(ctx, err, what);
  if ((err as NodeJS.ErrnoException)?.code && (err as NodeJS.ErrnoException).syscall) return unavailable(ctx, err, "i/o error");
  return err;
}
