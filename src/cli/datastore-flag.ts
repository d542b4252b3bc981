/**
 * The `--datastore URL` flag every command takes: opens the Store it names (flag, then
 * TABBY_DATASTORE, then the config file (config-file.ts), then the running lab, then the default
 * SQLite file; see src/datastore/open.ts). When the datastore was not given by the flag, the
 * command says on stderr which one it used and why. Commands that only read (main.ts tells, from
 * the command tree) never create a database: a missing SQLite file is an error naming it.
 * Tests inject a Store with `useStoreForTests`, which commands then get instead; its `close` is
 * a no-op so the test keeps using it.
 */
import { openStore, resolveDatastore } from "../datastore/open.js";
import type { Store } from "../datastore/store.js";
import { readClientConfig } from "./config-file.js";
import { commandContext } from "./command-context.js";

let injected: Store | undefined;
/** The URLs already announced on stderr (an agent retrying the open says it once). */
const announced = new Set<string>();

/** Makes openStoreFromArgs return `store` (until called with undefined). For in-process tests. */
export function useStoreForTests(store: Store | undefined): void {
  injected = store;
}

/** The URL the flag, environment, config file, running lab or default name, and where it came from. */
export function datastoreFromArgs(flag: string | undefined, env: NodeJS.ProcessEnv): { url: string; from: string | undefined } {
  if (flag) return { url: flag, from: undefined };
  if (env["TABBY_DATASTORE"]) return { url: env["TABBY_DATASTORE"], from: "$TABBY_DATASTORE" };
  const cfg = readClientConfig(env);
  if (cfg?.datastore) return { url: cfg.datastore, from: `the config file ${cfg.file}` };
  const r = resolveDatastore(undefined, env);
  return { url: r.url, from: r.source === "lab" ? `the running lab (${r.file})` : "the default" };
}

/** A URL for messages: the userinfo of etcd URLs (user:password@) left out. */
function shown(url: string): string {
  return url.replace(/^(etcds?:\/\/)[^@/?]*@/, "$1");
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
  const { url, from } = datastoreFromArgs(flag, env);
  // main.ts's context; unset (in-process tests of one module): create as before, say nothing
  const access = commandContext();
  if (from && access && !announced.has(url)) {
    announced.add(url);
    access.stderr.write(`tabby ${access.command}: datastore ${shown(url)} (from ${from})\n`);
  }
  return openStore(url, env, { create: access?.access !== "read" });
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
