/**
 * The npm package as a host gets it (issue #17): `npm pack` of this checkout (already built by
 * scripts/run-tests.mjs; the prepack script that builds it is checked separately), installed with
 * `npm install -g --prefix` into a temporary prefix, then the installed `tabby --version`,
 * `tabby cni install --bin-dir --conf-dir` into a temporary directory, and a CNI ADD and DEL by
 * the installed plugin (a runtime's invocation, test/cni-libcni.ts) in a namespace standing for
 * the host, with the real IPAM over a SQLite datastore. The tarball holds no tests.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { run } from "./helpers.js";
import { LibCni, hostWithUplink, ipJson } from "./cni-libcni.js";

const canRun = process.getuid?.() === 0;
const REPO = fileURLToPath(new URL("../../", import.meta.url));
const P = `ttpk${process.pid}`;
const HOST = `${P}h`;
const UP = `${P}u`;
const C = `${P}c`;
const W = mkdtempSync(join(tmpdir(), `${P}-`));
const PREFIX = join(W, "prefix");
const DS = `sqlite://${join(W, "tabby.db")}`;
// the same Node runs npm's lifecycle and the installed `tabby` (#!/usr/bin/env node)
const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH}` };
const installed = () => join(PREFIX, "bin", "tabby");
const tabbyInstalled = (args: string[]) => run(installed(), args, { env });
let tarball = "";

before(() => {
  const packed = JSON.parse(execFileSync("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", W], { cwd: REPO, env, encoding: "utf8" })) as {
    filename: string;
    files: { path: string }[];
  }[];
  tarball = join(W, packed[0]!.filename);
  execFileSync("npm", ["install", "-g", "--prefix", PREFIX, "--no-audit", "--no-fund", "--loglevel=error", tarball], {
    env,
    stdio: ["ignore", "ignore", "inherit"],
  });
});

after(() => {
  for (const ns of [C, UP, HOST]) spawnSync("ip", ["netns", "del", ns]);
  rmSync(W, { recursive: true, force: true });
});

test("the tarball holds the compiled code, the CNI bundles, docs, LICENSE and CHANGELOG, and no tests", () => {
  const files = execFileSync("tar", ["tzf", tarball], { encoding: "utf8" }).trim().split("\n");
  for (const f of [
    "package/LICENSE",
    "package/CHANGELOG.md",
    "package/docs/install.md",
    "package/dist/cni/tabby.cjs",
    "package/dist/cni/tabby-ipam.cjs",
    "package/dist/src/cli/main.js",
  ]) {
    assert.ok(files.includes(f), `${f} in the tarball`);
  }
  assert.deepEqual(
    files.filter((f) => /\.test\.|test-|fake|testkit|\/test\//.test(f)),
    [],
  );
  assert.match(readFileSync(join(REPO, "LICENSE"), "utf8"), /Apache License\s+Version 2\.0/);
  const pkg = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { scripts: Record<string, string>; engines: { node: string } };
  assert.match(pkg.scripts["prepack"]!, /build/);
  assert.match(pkg.engines.node, /22/);
});

test("the installed tabby reports its version", async () => {
  const pkg = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { version: string };
  const r = await tabbyInstalled(["--version"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^tabby ${pkg.version.replace(/\./g, "\\.")} \\(datastore schema \\d+, node v\\d+`));
  assert.equal(readdirSync(join(PREFIX, "lib/node_modules/tabby/dist/src")).includes("cli"), true);
});

test("installed: cni install, then a runtime's ADD and DEL through the installed plugins", { skip: !canRun && "needs root" }, async () => {
  const bin = join(W, "cni-bin");
  const inst = await tabbyInstalled(["cni", "install", "--bin-dir", bin, "--conf-dir", join(W, "net.d"), "--datastore", DS, "--nodename", "host-a"]);
  assert.equal(inst.code, 0, inst.stderr);
  assert.equal(inst.stderr, "", "the bundles are in the package");
  assert.match(readFileSync(join(bin, "tabby"), "utf8"), new RegExp(`${PREFIX}/lib/node_modules/tabby/dist/cni/tabby\\.cjs`));
  writeFileSync(join(W, "pool.yaml"), "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.74.0.0/24, blockSize: 26}\n");
  const ap = await tabbyInstalled(["apply", "-f", join(W, "pool.yaml"), "--datastore", DS]);
  assert.equal(ap.code, 0, ap.stderr);

  for (const ns of [HOST, UP, C]) execFileSync("ip", ["netns", "add", ns]);
  hostWithUplink(HOST, UP, "192.168.252", "fd12");
  await addAndDel(bin, join(W, "net.d"));
});

/** A runtime's ADD then DEL through the plugins in BIN, with the conflist in CONF (tabby only). */
async function addAndDel(bin: string, conf: string): Promise<void> {
  const lib = new LibCni([bin], HOST, { TABBY_IPAM_LOCK: join(W, "ipam.lock") });
  const list = JSON.parse(readFileSync(join(conf, "10-tabby.conflist"), "utf8"));
  list.plugins = list.plugins.filter((p: { type: string }) => p.type === "tabby");
  const inv = { containerId: "pkg0001", netns: `/var/run/netns/${C}`, ifname: "eth0", args: "IgnoreUnknown=1" };
  const res = await lib.add(list, inv);
  const ips = (res.ips as { address: string }[]).map((i) => i.address);
  assert.match(ips[0]!, /^10\.74\.0\.\d+\/32$/);
  assert.ok(ipJson(C, "addr", "show", "eth0")[0].addr_info.some((a: { local: string }) => ips[0]!.startsWith(a.local + "/")));
  assert.equal(ipJson(HOST, "route", "show", "proto", "152").length, 1, "the host routes to the workload");
  await lib.del(list, inv, res);
  assert.deepEqual(ipJson(HOST, "route", "show", "proto", "152"), []);
  assert.equal(existsSync(join(W, "tabby.db")), true);
}

test("installed as another project's dependency (hoisted node_modules): the bundles fall back to the module search", {
  skip: !canRun && "needs root",
}, async () => {
  const proj = join(W, "project");
  execFileSync("npm", ["install", "--prefix", proj, "--no-audit", "--no-fund", "--loglevel=error", tarball], { env, stdio: ["ignore", "ignore", "inherit"] });
  const pkgDir = join(proj, "node_modules/tabby");
  assert.equal(existsSync(join(pkgDir, "node_modules/koffi")), false, "koffi is hoisted beside tabby, not below it");
  const bin = join(W, "cni-bin-hoisted");
  const conf = join(W, "net.d-hoisted");
  const inst = await run(
    process.execPath,
    [join(pkgDir, "dist/src/cli/main.js"), "cni", "install", "--bin-dir", bin, "--conf-dir", conf, "--datastore", DS, "--nodename", "host-a"],
    { env },
  );
  assert.equal(inst.code, 0, inst.stderr);
  assert.match(readFileSync(join(bin, "tabby"), "utf8"), /project\/node_modules\/tabby\/dist\/cni\/tabby\.cjs/);
  await addAndDel(bin, conf);
});

test("installed: node install --root writes units that run the installed package; uninstall --root removes them", async () => {
  const root = join(W, "root");
  const dry = await tabbyInstalled(["node", "install", "--root", root, "--dry-run", "--no-cni"]);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /would write \/etc\/systemd\/system\/tabby-node\.service/);
  assert.equal(existsSync(root), false);
  const inst = await tabbyInstalled([
    "node",
    "install",
    "--root",
    root,
    "--datastore",
    DS,
    "--nodename",
    "host-a",
    "--bin-dir",
    "/opt/cni/bin",
    "--conf-dir",
    "/etc/cni/net.d",
  ]);
  assert.equal(inst.code, 0, inst.stderr);
  const unit = readFileSync(join(root, "etc/systemd/system/tabby-node.service"), "utf8");
  const main = join(PREFIX, "lib/node_modules/tabby/dist/src/cli/main.js");
  assert.ok(unit.includes(`ExecStart=${process.execPath} ${main} node run --graceful-restart $TABBY_NODE_ARGS`), unit);
  assert.match(readFileSync(join(root, "etc/default/tabby"), "utf8"), /^TABBY_NODENAME=host-a$/m);
  assert.match(readFileSync(join(root, "opt/cni/bin/tabby"), "utf8"), /lib\/node_modules\/tabby\/dist\/cni\/tabby\.cjs/);
  const bad = await tabbyInstalled(["node", "install", "--root", "relative"]);
  assert.equal(bad.code, 2);
  const un = await tabbyInstalled(["node", "uninstall", "--root", root, "--purge"]);
  assert.equal(un.code, 0, un.stderr);
  assert.deepEqual(
    readdirSync(root, { recursive: true })
      .map(String)
      .filter(
        (f) =>
          ![
            "etc",
            "opt",
            "var",
            "var/lib",
            "opt/cni",
            "opt/cni/bin",
            "etc/cni",
            "etc/cni/net.d",
            "etc/systemd",
            "etc/systemd/system",
            "etc/default",
            "etc/sysctl.d",
            "etc/modules-load.d",
          ].includes(f),
      ),
    [],
  );
});
