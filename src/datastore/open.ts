/**
 * PLACEHOLDER written on the `ipam` branch so `tabby ipam show` compiles: the datastore branch
 * owns the real `openStore` (sqlite://, etcd, memory://) with this exact signature, and its
 * version replaces this file on merge. Supports only `memory://` (an empty in-memory store).
 */
import { TabbyError } from "../errors.js";
import { MemoryStore } from "./memory.js";
import type { Store } from "./store.js";

export async function openStore(url?: string, env: NodeJS.ProcessEnv = process.env): Promise<Store> {
  const u = url ?? env.TABBY_DATASTORE ?? "sqlite:///var/lib/tabby/tabby.db";
  if (u === "memory://" || u.startsWith("memory://")) return new MemoryStore();
  throw new TabbyError("DS_BAD_URL", `datastore ${u} is not supported by this build (placeholder openStore: memory:// only)`, { url: u });
}
