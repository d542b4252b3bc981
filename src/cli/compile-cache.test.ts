import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { compileCacheDir } from "./compile-cache.js";
import { scratchWithProcesses } from "../testkit/cli/scratch.js";

const { dir, pids } = scratchWithProcesses("tabby-compile-cache-");
const main = fileURLToPath(new URL("./main.js", import.meta.url));

test("compile cache dir: Node's variables first, then root's /var/cache, then the user's cache", () => {
  assert.equal(compileCacheDir({ NODE_DISABLE_COMPILE_CACHE: "1", NODE_COMPILE_CACHE: "/x" }, 0, "/root"), undefined);
  assert.equal(compileCacheDir({ NODE_COMPILE_CACHE: "/x" }, 0, "/root"), "/x");
  assert.equal(compileCacheDir({}, 0, "/root"), "/var/cache/tabby/node-compile-cache");
  assert.equal(compileCacheDir({ XDG_CACHE_HOME: "/c" }, 1000, "/home/u"), "/c/tabby/node-compile-cache");
  assert.equal(compileCacheDir({}, 1000, "/home/u"), "/home/u/.cache/tabby/node-compile-cache");
  // a relative or missing place is no place: no cache rather than one under the working directory
  assert.equal(compileCacheDir({ XDG_CACHE_HOME: "rel" }, 1000, undefined), undefined);
  assert.equal(compileCacheDir({}, 1000, ""), undefined);
});

/** `tabby --version` as user `nobody` with HOME=`home`; its status and output. */
function versionAs(home: string, extra: NodeJS.ProcessEnv = {}) {
  return spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, main, "--version"], {
    encoding: "utf8",
    env: { PATH: process.env["PATH"], HOME: home, ...extra },
  });
}

test("tabby writes its compile cache under the user's cache dir, and runs without one it cannot write", {
  skip: process.getuid?.() !== 0 && "needs root to run as nobody",
}, () => {
  chmodSync(dir, 0o755);
  const home = join(dir, "home");
  mkdirSync(home, { mode: 0o755 });
  chmodSync(home, 0o777);
  const r = versionAs(home);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^tabby /);
  assert.ok(readdirSync(join(home, ".cache", "tabby", "node-compile-cache")).length > 0, "the cache was written");
  // a home it cannot write: same answer, no error
  const ro = join(dir, "ro");
  mkdirSync(ro, { mode: 0o555 });
  const r2 = versionAs(ro);
  assert.equal(r2.status, 0, r2.stderr);
  assert.equal(r2.stderr, "");
  assert.equal(r2.stdout, r.stdout);
  // turned off: nothing written
  const off = join(dir, "off");
  mkdirSync(off, { mode: 0o777 });
  chmodSync(off, 0o777);
  const r3 = versionAs(off, { NODE_DISABLE_COMPILE_CACHE: "1" });
  assert.equal(r3.status, 0, r3.stderr);
  assert.deepEqual(readdirSync(off), []);
});

test("bgp run writes the compile cache once it is up, not only when it exits", async () => {
  const cache = join(dir, "daemon-cache");
  const sock = join(dir, "bgp.sock");
  const conf = join(dir, "bgp.yaml");
  writeFileSync(conf, `routerId: 10.0.0.1\nasNumber: 64512\nlisten: false\ncontrol: ${sock}\npeers:\n  - { address: 127.0.0.1, asNumber: 64512, port: 1 }\n`);
  const child = spawn(process.execPath, [main, "bgp", "run", "-c", conf], { stdio: "ignore", env: { ...process.env, NODE_COMPILE_CACHE: cache } });
  pids.add(child.pid!);
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  const files = () => (existsSync(cache) ? readdirSync(cache, { recursive: true }).length : 0);
  // the flush follows the control socket's bind; a file count above the version directory's own says it came
  for (let i = 0; i < 300 && !(existsSync(sock) && files() > 1) && child.exitCode === null; i++) await sleep(50);
  assert.ok(files() > 1, "the cache is on disk while the speaker runs");
  child.kill("SIGTERM");
  assert.equal(await exited, 0);
  pids.delete(child.pid!);
});
