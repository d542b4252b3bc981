/**
 * Which datastore to use and how to open it. A datastore is named by URL:
 *   sqlite:///abs/path   the embedded SQLite store (sqlite.ts); the path is taken literally
 *   memory://            a fresh in-process MemoryStore (tests)
 *   etcd://host:port,... an etcd v3 cluster (etcds://…?ca=&cert=&key= for TLS; see etcd.ts)
 * Precedence (resolveDatastoreUrl): --datastore flag, then $TABBY_DATASTORE, then the datastore of a
 * running lab (/run/tabby/lab/current.json, written by `tabby lab up`), then the default
 * sqlite:///var/lib/tabby/tabby.db. (The CLI puts its config file, src/cli/config-file.ts, between
 * $TABBY_DATASTORE and the lab.)
 *
 * Opening never creates a database unless asked (`create`, the default for writers): a reader
 * given a path that does not exist gets DS_NO_DATABASE naming it; a file that is not a database
 * is DS_CORRUPT; a file this process may only read is opened read-only (sqlite.ts).
 */
import { existsSync, readFileSync } from "node:fs";
import { TabbyError } from "../errors.js";
import { MemoryStore } from "./memory.js";
import type { Store } from "./store.js";

export const DEFAULT_DATASTORE_URL = "sqlite:///var/lib/tabby/tabby.db";
/** Written by `tabby lab up`: JSON with a `datastore` URL string ($TABBY_LAB_ROOT moves it). */
export const LAB_CURRENT_FILE = "/run/tabby/lab/current.json";

function labCurrentFile(env: NodeJS.ProcessEnv): string {
  const root = env["TABBY_LAB_ROOT"];
  return root ? `${root.replace(/\/+$/, "")}/current.json` : LAB_CURRENT_FILE;
}

const ACCEPTED = "sqlite:///absolute/path, memory://, etcd://host:port[,host:port...], etcds://host:port?ca=&cert=&key=";

const badUrl = (url: string, why: string, details: Record<string, unknown> = {}) =>
  new TabbyError("DS_BAD_URL", `bad datastore URL ${JSON.stringify(url)}: ${why} (accepted: ${ACCEPTED})`, { url, ...details });

/** The datastore URL to use, by precedence: flag, $TABBY_DATASTORE, running lab, default. */
export function resolveDatastoreUrl(flag?: string, env: NodeJS.ProcessEnv = process.env, labFile: string = labCurrentFile(env)): string {
  return resolveDatastore(flag, env, labFile).url;
}

/** resolveDatastoreUrl, also saying where the URL came from (the lab's file when it was the lab). */
export function resolveDatastore(
  flag?: string,
  env: NodeJS.ProcessEnv = process.env,
  labFile: string = labCurrentFile(env),
): { url: string; source: "flag" | "env" | "lab" | "default"; file?: string } {
  if (flag) return { url: flag, source: "flag" };
  const fromEnv = env["TABBY_DATASTORE"];
  if (fromEnv) return { url: fromEnv, source: "env" };
  if (existsSync(labFile)) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(labFile, "utf8"));
    } catch (err) {
      throw new TabbyError(
        "DS_BAD_URL",
        `cannot read the running lab's datastore from ${labFile}: ${(err as Error).message}`,
        { file: labFile },
        { cause: err },
      );
    }
    const ds = (parsed as { datastore?: unknown } | null)?.datastore;
    if (typeof ds !== "string" || !ds) {
      throw new TabbyError("DS_BAD_URL", `${labFile} has no "datastore" string; is the lab half up? (tabby lab down removes it)`, { file: labFile });
    }
    return { url: ds, source: "lab", file: labFile };
  }
  return { url: DEFAULT_DATASTORE_URL, source: "default" };
}

export interface OpenOptions {
  /** Create a SQLite database (and its directory) that does not exist (default true). */
  create?: boolean;
}

/** Parse a datastore URL without opening anything. */
export function parseDatastoreUrl(url: string): { kind: "sqlite"; path: string } | { kind: "memory" } | { kind: "etcd"; endpoints: string[] } {
  if (url.startsWith("sqlite://")) {
    const path = url.slice("sqlite://".length);
    if (!path.startsWith("/")) throw badUrl(url, "the SQLite path must be absolute (three slashes: sqlite:///path)");
    if (path.endsWith("/")) throw badUrl(url, "the SQLite path names a directory, not a file");
    return { kind: "sqlite", path };
  }
  if (url === "memory://") return { kind: "memory" };
  if (url.startsWith("etcd://") || url.startsWith("etcds://")) {
    const hosts = url.slice(url.indexOf("://") + 3).split("?")[0]!;
    const endpoints = hosts.split(",").filter(Boolean);
    if (!endpoints.length) throw badUrl(url, "no etcd endpoints");
    return { kind: "etcd", endpoints };
  }
  throw badUrl(url, "unknown scheme");
}

/** Open the datastore named by `url` (default: resolveDatastoreUrl(undefined, env)). */
export async function openStore(url?: string, env: NodeJS.ProcessEnv = process.env, opts: OpenOptions = {}): Promise<Store> {
  const resolved = url ?? resolveDatastoreUrl(undefined, env);
  const parsed = parseDatastoreUrl(resolved);
  switch (parsed.kind) {
    case "sqlite": {
      // Loaded only when used: an agent on etcd does not carry the SQLite addon (issue #15).
      const { SqliteStore } = await import("./sqlite.js");
      return SqliteStore.open(parsed.path, { create: opts.create ?? true });
    }
    case "memory":
      return new MemoryStore();
    case "etcd": {
      // Loaded only when used: the etcd client (gRPC) is heavy and the SQLite path never needs it.
      const { EtcdStore, parseEtcdUrl } = await import("./etcd.js");
      return EtcdStore.open(parseEtcdUrl(resolved));
    }
  }
}
