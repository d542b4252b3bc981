/**
 * `tabby node install --root`: the files written, byte for byte (golden tree under
 * src/cli/testdata/node-install/; UPDATE_GOLDEN=1 rewrites it), the conffile kept on a second
 * install, the dry run writing nothing, `uninstall` removing exactly what install wrote (and
 * --purge the rest), and `systemd-analyze verify` on the units where systemd is installed.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { nodeInstall } from "./node-install.js";
import { nodeUninstall } from "./node-uninstall.js";
import type { UnitOptions } from "./node-units.js";

const GOLDEN = fileURLToPath(new URL("../../../src/cli/testdata/node-install/", import.meta.url));
const unit: UnitOptions = {
  nodePath: "/usr/bin/node",
  cliPath: "/usr/lib/node_modules/tabby/dist/src/cli/main.js",
  docsDir: "/usr/lib/node_modules/tabby/docs",
  version: "0.0.0-golden",
  datastore: "etcd://10.0.0.10:2379,10.0.0.11:2379",
};
const tmp = mkdtempSync(join(tmpdir(), "tabby-node-install-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

function tree(root: string): Map<string, { mode: number; text: string }> {
  const out = new Map<string, { mode: number; text: string }>();
  for (const rel of readdirSync(root, { recursive: true }).map(String).sort()) {
    const st = statSync(join(root, rel));
    if (st.isFile()) out.set(rel, { mode: st.mode & 0o777, text: readFileSync(join(root, rel), "utf8") });
  }
  return out;
}

test("node install --root writes the golden tree (units, env file, sysctls, modules, log note, manifest)", async () => {
  const root = join(tmp, "golden");
  const said: string[] = [];
  await nodeInstall({ root, dryRun: false, unit, say: (l) => said.push(l) });
  const got = tree(root);
  if (process.env.UPDATE_GOLDEN) {
    rmSync(GOLDEN, { recursive: true, force: true });
    for (const [rel, f] of got) {
      mkdirSync(dirname(join(GOLDEN, rel)), { recursive: true });
      writeFileSync(join(GOLDEN, rel), f.text);
    }
  }
  const want = tree(GOLDEN);
  assert.deepEqual([...got.keys()], [...want.keys()]);
  for (const [rel, f] of got) assert.equal(f.text, want.get(rel)!.text, rel);
  assert.equal(got.get("etc/default/tabby")!.mode, 0o640, "the env file may hold credentials' paths: not world-readable");
  assert.equal(got.get("etc/systemd/system/tabby-node.service")!.mode, 0o644);
  assert.ok(existsSync(join(root, "etc/tabby/bgp")), "the speaker configs' directory is made");
  assert.ok(said.some((l) => l.startsWith("write /etc/systemd/system/tabby-node.service")));
});

test("node install: least privilege is named in the units; the agent stops gracefully by default", () => {
  const text = readFileSync(join(GOLDEN, "etc/systemd/system/tabby-node.service"), "utf8");
  assert.match(text, /^CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_BIND_SERVICE CAP_NET_RAW$/m);
  assert.match(text, /^NoNewPrivileges=yes$/m);
  assert.match(text, /^ProtectSystem=strict$/m);
  assert.match(text, /^ExecStart=\/usr\/bin\/node \S+main\.js node run --graceful-restart \$TABBY_NODE_ARGS$/m);
  assert.match(text, /^KillSignal=SIGUSR2$/m);
  const bgp = readFileSync(join(GOLDEN, "etc/systemd/system/tabby-bgp@.service"), "utf8");
  assert.match(bgp, /^ExecStart=\S+ \S+ bgp run -c \/etc\/tabby\/bgp\/%i\.yaml$/m);
  assert.match(bgp, /^CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_BIND_SERVICE CAP_NET_RAW$/m);
});

test("node install --dry-run writes nothing; a second install keeps the admin's env file", async () => {
  const root = join(tmp, "again");
  await nodeInstall({ root, dryRun: true, unit, say: () => {} });
  assert.equal(existsSync(root), false);
  await nodeInstall({ root, dryRun: false, unit, say: () => {} });
  writeFileSync(join(root, "etc/default/tabby"), "TABBY_DATASTORE=etcd://mine:2379\n");
  const said: string[] = [];
  await nodeInstall({ root, dryRun: false, unit: { ...unit, version: "0.0.1" }, say: (l) => said.push(l) });
  assert.equal(readFileSync(join(root, "etc/default/tabby"), "utf8"), "TABBY_DATASTORE=etcd://mine:2379\n");
  assert.ok(said.includes("keep  /etc/default/tabby (exists: your settings)"));
  assert.match(readFileSync(join(root, "etc/systemd/system/tabby-node.service"), "utf8"), /tabby 0\.0\.1/);
});

test("node install with CNI, then uninstall removes what it wrote (keeping the env file), --purge the rest", async () => {
  const root = join(tmp, "cni");
  mkdirSync(join(root, "etc/systemd/system"), { recursive: true });
  writeFileSync(join(root, "etc/systemd/system/other.service"), "[Unit]\n");
  await nodeInstall({ root, dryRun: false, unit, cni: { binDir: "/opt/cni/bin", confDir: "/etc/cni/net.d" }, say: () => {} });
  assert.match(readFileSync(join(root, "opt/cni/bin/tabby"), "utf8"), /^#!\/bin\/sh\n/);
  assert.equal(JSON.parse(readFileSync(join(root, "etc/cni/net.d/10-tabby.conflist"), "utf8")).plugins[0].datastore, unit.datastore);
  const removed = await nodeUninstall({ root, dryRun: false, purge: false, say: () => {} });
  assert.ok(removed.includes("/opt/cni/bin/tabby-ipam"));
  assert.deepEqual([...tree(root).keys()], ["etc/default/tabby", "etc/systemd/system/other.service"]);
  await nodeInstall({ root, dryRun: false, unit, say: () => {} });
  await nodeUninstall({ root, dryRun: false, purge: true, say: () => {} });
  assert.deepEqual([...tree(root).keys()], ["etc/systemd/system/other.service"]);
  assert.equal(existsSync(join(root, "etc/tabby")), false);
});

const analyze = spawnSync("systemd-analyze", ["--version"]).status === 0;
test("systemd-analyze verify accepts the units", { skip: !analyze && "systemd-analyze is not installed" }, () => {
  const dir = join(tmp, "verify");
  mkdirSync(dir);
  for (const f of ["tabby-node.service", "tabby-bgp@.service"]) writeFileSync(join(dir, f), readFileSync(join(GOLDEN, "etc/systemd/system", f)));
  // an instance of the template, as `systemctl start tabby-bgp@rr1` would make
  const out = execFileSync("systemd-analyze", ["verify", join(dir, "tabby-node.service"), `${join(dir, "tabby-bgp@.service")}`], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
  assert.doesNotMatch(out, /Unknown (key|section)|[Ii]nvalid/);
});
