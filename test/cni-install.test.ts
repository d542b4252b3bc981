/** `tabby cni install`: the wrappers run the plugins, the conflist is tabby then portmap, usage errors exit 2. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tabby } from "./helpers.js";

test("cni install writes executable wrappers and the default conflist", async () => {
  const dir = mkdtempSync(join(tmpdir(), `ttc2i${process.pid}-`));
  try {
    const r = await tabby([
      "cni",
      "install",
      "--bin-dir",
      join(dir, "bin"),
      "--conf-dir",
      join(dir, "net.d"),
      "--datastore",
      "sqlite:///x/y.db",
      "--nodename",
      "n1",
    ]);
    assert.equal(r.code, 0, r.stderr);
    for (const p of ["tabby", "tabby-ipam"]) {
      assert.equal(statSync(join(dir, "bin", p)).mode & 0o777, 0o755);
      const v = spawnSync(join(dir, "bin", p), [], {
        input: '{"cniVersion":"0.4.0"}',
        env: { PATH: process.env.PATH, CNI_COMMAND: "VERSION" },
        encoding: "utf8",
      });
      assert.equal(v.status, 0, v.stderr);
      assert.deepEqual(JSON.parse(v.stdout), { cniVersion: "0.4.0", supportedVersions: ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] });
    }
    assert.deepEqual(JSON.parse(readFileSync(join(dir, "net.d", "10-tabby.conflist"), "utf8")), {
      cniVersion: "1.0.0",
      name: "tabby",
      plugins: [
        {
          type: "tabby",
          datastore: "sqlite:///x/y.db",
          nodename: "n1",
          ipam: { type: "tabby-ipam" },
          capabilities: { "io.kubernetes.cri.pod-annotations": true },
        },
        { type: "portmap", snat: true, capabilities: { portMappings: true } },
      ],
    });
    const bad = await tabby(["cni", "install", "--bogus"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown option '--bogus'\n\(tabby cni install --help lists the options\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
