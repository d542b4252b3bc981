/**
 * The `--datastore URL` flag every command takes: opens the Store it names (flag, then
 * TABBY_DATASTORE, then the running lab, then the default SQLite file; see src/datastore/open.ts).
 * Tests inject a Store with `useStoreForTests`, which commands then get instead; its `close` is
 * a no-op so the test keeps using it.
 */
import { openStore } from "../datastore/open.js";
import type { Store } from "../datastore/store.js";

let injected: Store | undefined;

/** Makes openStoreFromArgs return `store` (until called with undefined). For in-process tests. */
export function useStoreForTests(store: Store | undefined): void {
  injected = store;
}

export async function openStoreFromArgs(flag: string | undefined, env: NodeJS.ProcessEnv): Promise<Store> {
  if (injected) {
    const s = injected;
    return new Proxy(s, {
      get(target, prop, receiver) {
        if (prop === "close") return async () => {};
        const v: unknown = Reflect.get(target, prop, receiver);
        return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }
  return openStore(flag, env);
}

/** Opens the store named by --datastore (or the environment), runs `fn` with it, and closes it. */
export async function withStoreFromArgs<T>(flag: string | undefined, env: NodeJS.ProcessEnv, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStoreFromArgs(flag, env);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}
