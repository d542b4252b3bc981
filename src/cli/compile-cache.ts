/**
 * Node's on-disk compile cache for the `tabby` command (node:module enableCompileCache, Node 22.1+):
 * V8's code cache of every module a run compiles, kept between runs, so the next start of the
 * same build parses and compiles less. Where: $NODE_COMPILE_CACHE when set (Node has then enabled
 * it before tabby runs); else /var/cache/tabby/node-compile-cache for root and
 * $XDG_CACHE_HOME/tabby/node-compile-cache (default ~/.cache/tabby/...) for other users — never a
 * shared world-writable directory, whose entries another user could plant. Off with
 * NODE_DISABLE_COMPILE_CACHE=1. A directory that cannot be made or written never fails the
 * command: Node then runs without the cache (docs/install.md "Compile cache").
 *
 * Node writes the cache when the process exits. A daemon runs until it is stopped, so the agents a
 * lab starts together would each compile everything and none would find the others' work: the
 * daemons (`node run`, `bgp run`) write it once they are up (flushStartCache).
 */
import { enableCompileCache, flushCompileCache, getCompileCacheDir } from "node:module";
import { join } from "node:path";

/** The directory tabby asks Node to keep its compile cache in; undefined for none. */
export function compileCacheDir(env: NodeJS.ProcessEnv, uid: number | undefined, home: string | undefined): string | undefined {
  if (env["NODE_DISABLE_COMPILE_CACHE"]) return undefined;
  if (env["NODE_COMPILE_CACHE"]) return env["NODE_COMPILE_CACHE"];
  if (uid === 0) return "/var/cache/tabby/node-compile-cache";
  const xdg = env["XDG_CACHE_HOME"];
  if (xdg?.startsWith("/")) return join(xdg, "tabby", "node-compile-cache");
  if (home?.startsWith("/")) return join(home, ".cache", "tabby", "node-compile-cache");
  return undefined;
}

/** Turns the cache on for the rest of this process's module loads; never throws. */
export function enableTabbyCompileCache(env: NodeJS.ProcessEnv = process.env): void {
  try {
    const dir = compileCacheDir(env, process.getuid?.(), env["HOME"]);
    if (dir !== undefined) enableCompileCache(dir);
  } catch {
    /* without a cache: slower to start, nothing else */
  }
}

/** Writes what this process compiled so far to the cache (when there is one), for the processes that start next; never throws. */
export function flushStartCache(): void {
  try {
    if (getCompileCacheDir() !== undefined) flushCompileCache();
  } catch {
    /* the next start compiles again */
  }
}
