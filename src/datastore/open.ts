/**
 * PLACEHOLDER (replaced at merge by the real one): opens a Store from a datastore URL. This
 * minimal version knows only `memory://`; any other URL fails with DS_UNAVAILABLE.
 */
import { MemoryStore } from "./memory.js";
import { DatastoreError, type Store } from "./store.js";

export async function openStore(url?: string, env: NodeJS.ProcessEnv = process.env): Promise<Store> {
  const u = url ?? env.TABBY_DATASTORE;
  if (u === "memory://") return new MemoryStore();
  throw new DatastoreError("DS_UNAVAILABLE", `datastore ${u ?? "(default sqlite)"} is not supported by this build (only memory://)`, { url: u });
}
