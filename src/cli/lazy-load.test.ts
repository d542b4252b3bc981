// What a running `tabby bgp run` carries: the modules its process loaded (recorded by
// src/testkit/cli/record-modules.ts), not bytes or times. A standalone speaker loads the BGP
// speaker and what its config turns on, never the datastore, the policy calculation, the UI,
// the lab, IPAM, the explain API, or the parts of an off feature (metrics, routes into the
// kernel, BFD). Also: the agent's datastore and policy calculation load only what they use.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { queryControl } from "../bgp/control.js";
import { freePort } from "../testkit/free-port.js";
import { scratchWithProcesses } from "../testkit/cli/scratch.js";

const { dir, pids } = scratchWithProcesses("tabby-lazy-load-");

const main = fileURLToPath(new URL("./main.js", import.meta.url));
const hook = fileURLToPath(new URL("../testkit/cli/record-modules.js", import.meta.url));
const src = fileURLToPath(new URL("../", import.meta.url));

/** Starts `tabby bgp run` with `config`, waits until it is up, stops it (SIGTERM); returns the modules it loaded (src-relative paths, package names, node: builtins). */
async function modulesOfBgpRun(
  name: string,
  config: string,
  readyLine?: string,
  whileUp?: (child: ChildProcess, stderr: () => string) => Promise<void>,
): Promise<string[]> {
  const conf = join(dir, `${name}.yaml`);
  const sock = join(dir, `${name}.sock`);
  const list = join(dir, `${name}.modules`);
  writeFileSync(conf, `routerId: 10.0.0.1\nasNumber: 64512\nlisten: false\ncontrol: ${sock}\n${config}`);
  const child = spawn(process.execPath, ["--import", hook, main, "bgp", "run", "-c", conf], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, TABBY_RECORD_MODULES: list },
  });
  pids.add(child.pid!);
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  // up, with its signal handlers in place: the control socket answers (the file exists a little
  // earlier, from bind), and, when given, the line logged after the last start-up step is out
  const answers = () =>
    queryControl(sock, { op: "peers" }, 1000).then(
      () => true,
      () => false,
    );
  const up = async () => existsSync(sock) && (readyLine === undefined || stderr.includes(readyLine)) && (await answers());
  let ready = false;
  for (let i = 0; i < 300 && !ready && child.exitCode === null; i++) {
    ready = await up();
    if (!ready) await sleep(50);
  }
  assert.ok(ready, `bgp run did not come up: ${stderr}`);
  await whileUp?.(child, () => stderr);
  child.kill("SIGTERM");
  assert.equal(await exited, 0, stderr);
  pids.delete(child.pid!);
  return readFileSync(list, "utf8")
    .split("\n")
    .filter((u) => u !== "")
    .map((u) => {
      if (!u.startsWith("file:")) return u;
      const path = fileURLToPath(u);
      const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(path);
      if (pkg) return `pkg:${pkg[1]}`;
      return path.startsWith(src) ? path.slice(src.length) : path;
    });
}

/** The src/ units (first folder or file) and packages among the modules. */
function units(mods: string[]): Set<string> {
  return new Set(mods.filter((m) => !m.startsWith("node:")).map((m) => (m.startsWith("pkg:") ? m : m.split("/")[0]!)));
}

// Units a standalone speaker never needs, whatever its config.
const NEVER = ["datastore", "calc", "ui", "lab", "ipam", "explain", "agent", "model/resources", "cni", "dhcp", "flows", "vm", "docker", "health/checks.js"];
const NEVER_PKGS = ["pkg:better-sqlite3", "pkg:etcd3", "pkg:@grpc/grpc-js", "pkg:koffi"];

test("bgp run: a plain speaker loads no datastore, policy, UI, metrics or kernel-route code", async () => {
  const mods = await modulesOfBgpRun("plain", "peers:\n  - { address: 127.0.0.1, asNumber: 64512, port: 1 }\n");
  const u = units(mods);
  assert.ok(mods.includes("bgp/speaker.js"), `the speaker is loaded: ${[...u].join(" ")}`);
  for (const n of NEVER) assert.ok(!mods.some((m) => m === n || m.startsWith(`${n}/`)), `${n} is not loaded: ${mods.filter((m) => m.startsWith(n)).join(" ")}`);
  for (const p of NEVER_PKGS) assert.ok(!u.has(p), `${p} is not loaded`);
  // off in this config, so not loaded
  assert.ok(!u.has("pkg:prom-client") && !u.has("metrics"), "no metrics without `metrics:`");
  assert.ok(!mods.includes("dataplane/fib-installer.js"), "no FIB installer without `installRoutes: true`");
  for (const m of ["bfd/worker-client.js", "bfd/service.js", "bfd/udp.js", "node:worker_threads", "node:dgram", "node:crypto"])
    assert.ok(!mods.includes(m), `no ${m} without a \`bfd\` peer`);
});

test("bgp run: the features a config turns on are loaded", async () => {
  // installRoutes with a peer that never comes up: nothing is learned, so nothing is installed
  const mods = await modulesOfBgpRun(
    "metrics",
    `metrics: { address: 127.0.0.1, port: ${await freePort()} }\ninstallRoutes: true\npeers:\n  - { address: 127.0.0.1, asNumber: 64512, port: 1, bfd: true }\n`,
    "serving metrics",
  );
  const u = units(mods);
  assert.ok(u.has("pkg:prom-client") && mods.includes("metrics/speaker-metrics.js"), "metrics");
  assert.ok(mods.includes("dataplane/fib-installer.js"), "the FIB installer");
  // BFD runs in its worker thread (bfd/worker.js): the main thread carries its client, not the service or its sockets
  assert.ok(mods.includes("bfd/worker-client.js") && mods.includes("node:worker_threads"), "BFD");
  for (const m of ["bfd/service.js", "bfd/udp.js", "node:dgram"]) assert.ok(!mods.includes(m), `${m} is in the BFD worker, not the main thread`);
  // the metrics server takes node:http without its ES-module facade (src/node-http.ts)
  const internal = readFileSync(join(dir, "metrics.modules.internal"), "utf8");
  assert.ok(internal.includes("NativeModule http\n"), "node:http is loaded");
  assert.ok(!internal.includes("undici"), "node:http's facade getters did not load the bundled undici");
  // prom-client's parts, not its index (src/metrics/prom.ts): no Pushgateway, so no https or zlib
  for (const m of ["https", "zlib"]) assert.ok(!internal.includes(`NativeModule ${m}\n`), `no node:${m} (prom-client's Pushgateway)`);
});

test("bgp run: a reload (SIGHUP) that adds a bfd peer loads BFD then", async () => {
  const peer = "peers:\n  - { address: 127.0.0.1, asNumber: 64512, port: 1 }\n";
  const mods = await modulesOfBgpRun("reload", peer, undefined, async (child, stderr) => {
    const conf = join(dir, "reload.yaml");
    writeFileSync(conf, readFileSync(conf, "utf8").replace("port: 1 }", "port: 1, bfd: true }"));
    child.kill("SIGHUP");
    for (let i = 0; i < 200 && !/configuration reloaded|reload failed/.test(stderr()); i++) await sleep(50);
    assert.match(stderr(), /configuration reloaded/);
    assert.doesNotMatch(stderr(), /reload failed/);
  });
  assert.ok(mods.includes("bfd/worker-client.js"), "BFD loaded by the reload");
});

/** The modules a child process loads when it runs `code` (an ES module body). */
function modulesOf(name: string, code: string): string[] {
  const list = join(dir, `${name}.modules`);
  const r = spawnSync(process.execPath, ["--import", hook, "--input-type=module", "-e", code], {
    encoding: "utf8",
    env: { ...process.env, TABBY_RECORD_MODULES: list },
  });
  assert.equal(r.status, 0, r.stderr);
  return readFileSync(list, "utf8")
    .split("\n")
    .filter((u) => u !== "")
    .map((u) => (u.startsWith("file:") ? fileURLToPath(u) : u));
}

test("datastore: the SQLite addon is loaded only for a sqlite:// datastore", () => {
  const open = JSON.stringify(new URL("../datastore/open.js", import.meta.url).href);
  const mem = modulesOf("open-memory", `const { openStore } = await import(${open}); await (await openStore("memory://", {})).close();`);
  assert.ok(!mem.some((m) => m.includes("/better-sqlite3/") || m.endsWith("/datastore/sqlite.js")), "memory:// loads no SQLite");
  const db = join(dir, "t.db");
  const sq = modulesOf("open-sqlite", `const { openStore } = await import(${open}); await (await openStore(${JSON.stringify(`sqlite://${db}`)}, {})).close();`);
  assert.ok(
    sq.some((m) => m.includes("/better-sqlite3/")),
    "sqlite:// loads the addon",
  );
});

test("the HTTP servers and the Docker engine client take node:http without loading undici", () => {
  const urls = ["../metrics/http.js", "../ui/server.js", "../docker/server.js", "../docker/engine.js"].map((m) =>
    JSON.stringify(new URL(m, import.meta.url).href),
  );
  const r = spawnSync(
    process.execPath,
    [
      "--input-type=module",
      "-e",
      `for (const u of [${urls.join(",")}]) await import(u); const l = process.moduleLoadList; console.log(l.includes("NativeModule http"), l.some((m) => m.includes("undici")));`,
    ],
    { encoding: "utf8" },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), "true false", 'node:http loaded, undici not (an `import ... from "node:http"` would load it)');
});

test("a datastore given by flag or environment loads no YAML; a config file does", () => {
  const flag = JSON.stringify(new URL("./datastore-flag.js", import.meta.url).href);
  const yamlLoaded = (mods: string[]) => mods.some((m) => m.includes("/node_modules/yaml/"));
  const given = modulesOf(
    "ds-flag",
    `const { datastoreFromArgs } = await import(${flag}); datastoreFromArgs("memory://", {}); datastoreFromArgs(undefined, { TABBY_DATASTORE: "memory://" });`,
  );
  assert.ok(!yamlLoaded(given), "`tabby node run --datastore URL` starts without the yaml package");
  const cfg = join(dir, "tabby.yaml");
  writeFileSync(cfg, "datastore: memory://\n");
  const file = modulesOf(
    "ds-config",
    `const { datastoreFromArgs } = await import(${flag}); const r = datastoreFromArgs(undefined, { TABBY_CONFIG: ${JSON.stringify(cfg)} }); if (r.url !== "memory://") throw new Error(r.url);`,
  );
  assert.ok(yamlLoaded(file), "the config file is parsed with the yaml package");
});

test("the agent's policy calculation does not load the YAML manifest code", () => {
  const calc = JSON.stringify(new URL("../calc/policy/index.js", import.meta.url).href);
  const mods = modulesOf("calc", `await import(${calc});`);
  assert.ok(!mods.some((m) => m.endsWith("/model/manifest.js") || m.includes("/node_modules/yaml/")), "no model/manifest.js, no yaml");
});
