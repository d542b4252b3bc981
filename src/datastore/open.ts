/**
 * PLACEHOLDER (written on the `cni` branch so the CNI plugin compiles): opens a Store by URL. Only
 * `memory://` is supported here; the datastore branch provides the real one (sqlite:///path,
 * etcd) with exactly this signature, and replaces this file on merge.
 */
import { TabbyError } from "../errors.js";
import { MemoryStore } from "./memory.js";
import type { Store } from "./store.js";

export const DEFAULT_DATASTORE = "sqlite:///var/lib/tabby/tabby.db";

export async function openStore(url?: string, env: NodeJS.ProcessEnv = process.env): Promise<Store> {
  const u = url ?? env.TABBY_DATASTORE ?? DEFAULT_DATASTORE;
  if (u === "memory://" || u.startsWith("memory://")) return new MemoryStore();
  throw new TabbyError("DS_UNSUPPORTED_URL", `datastore ${u} is not supported by this build (placeholder openStore: memory:// only)`, { url: u });
}
