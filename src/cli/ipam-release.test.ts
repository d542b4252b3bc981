import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { resourceKey } from "../model/keys.js";
import { openStore } from "../datastore/open.js";
import { Ipam } from "../ipam/ipam.js";
import { UsageError } from "./command.js";
import { run as check } from "./ipam-check.js";
import { run as release } from "./ipam-release.js";

function io() {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  stdout.on("data", (d: Buffer) => (out += d.toString()));
  return { io: { stdout, stderr, env: {} }, text: () => out };
}

test("ipam release --ip / --handle / --leaked, and ipam check before and after", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tti2-cli-"));
  const url = `sqlite://${join(dir, "t.db")}`;
  try {
    const s = await openStore(url);
    await s.put(
      resourceKey("IPPool", "p"),
      JSON.stringify({ apiVersion: "projectcalico.org/v3", kind: "IPPool", metadata: { name: "p" }, spec: { cidr: "10.9.0.0/24" } }),
    );
    await s.put(resourceKey("Node", "n1"), JSON.stringify({ apiVersion: "projectcalico.org/v3", kind: "Node", metadata: { name: "n1" }, spec: {} }));
    const ipam = new Ipam(s);
    const a = await ipam.autoAssign({ handle: "tabby-net.a", node: "n1", num4: 1, num6: 0 });
    await ipam.autoAssign({ handle: "tabby-net.b", node: "n1", num4: 2, num6: 0 });
    await ipam.autoAssign({ handle: "tabby-net.c", node: "n1", num4: 1, num6: 0 });
    await s.close();

    let o = io();
    assert.equal(await check(["--datastore", url], o.io), 1);
    assert.match(o.text(), /leaked address .* tabby-net\.a/);
    o = io();
    assert.equal(await check(["--datastore", url, "-o", "json"], o.io), 1);
    assert.equal((JSON.parse(o.text()) as { problems: number }).problems, 4);

    o = io();
    assert.equal(await release(["--datastore", url, "--ip", a.ipv4[0]!], o.io), 0);
    assert.match(o.text(), /released 1 of 1/);
    o = io();
    assert.equal(await release(["--datastore", url, "--handle", "tabby-net.b"], o.io), 0);
    assert.match(o.text(), /released 2 address/);
    o = io();
    assert.equal(await release(["--datastore", url, "--leaked"], o.io), 0);
    assert.match(o.text(), /released 0 address\(es\); 1 candidate\(s\) still within the grace period/);
    o = io();
    assert.equal(await release(["--datastore", url, "--leaked", "--grace", "0", "--dry-run"], o.io), 0);
    assert.match(o.text(), /would release handle tabby-net\.c/);
    o = io();
    assert.equal(await release(["--datastore", url, "--leaked", "--grace", "0"], o.io), 0);
    assert.match(o.text(), /released handle tabby-net\.c/);
    o = io();
    assert.equal(await check(["--datastore", url], o.io), 0, o.text());
    await assert.rejects(release(["--datastore", url, "--ip", "10.9.0.1", "--leaked"], io().io), UsageError);
    await assert.rejects(release(["--datastore", url, "--handle", "x", "--grace", "0"], io().io), UsageError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
