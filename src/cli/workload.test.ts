/**
 * `tabby workload add|delete` against a SQLite datastore: addresses of both families, the
 * endpoint Calico's libvirt integration would write, refusals, and a delete that leaves
 * `tabby ipam check` clean.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { resourceKey } from "../model/keys.js";
import { openStore } from "../datastore/open.js";
import { ResourceClient } from "../datastore/resource-client.js";
import { run as check } from "./ipam-check.js";
import { runAdd, runDelete } from "./workload.js";
import type { CliIO } from "./command.js";

/** `tabby workload SUB ...` as the one parser dispatches it. */
function workload(argv: string[], io: CliIO): Promise<number> {
  return argv[0] === "delete" ? runDelete(argv.slice(1), io) : runAdd(argv.slice(1), io);
}

function io() {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  let err = "";
  stdout.on("data", (d: Buffer) => (out += d.toString()));
  stderr.on("data", (d: Buffer) => (err += d.toString()));
  return { io: { stdout, stderr, env: {} }, text: () => out, err: () => err };
}

test("workload add: IPAM addresses of both families and a libvirt WorkloadEndpoint; delete leaves ipam check clean", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tvm-cli-"));
  const url = `sqlite://${join(dir, "t.db")}`;
  try {
    const s = await openStore(url);
    const put = (k: string, n: string, spec: object) =>
      s.put(resourceKey(k, n), JSON.stringify({ apiVersion: "projectcalico.org/v3", kind: k, metadata: { name: n }, spec }));
    await put("IPPool", "v4", { cidr: "10.9.0.0/24" });
    await put("IPPool", "v6", { cidr: "fd09::/120" });
    await put("Node", "h1", {});
    await s.close();

    let o = io();
    assert.equal(
      await workload(
        [
          "add",
          "--interface",
          "tapvm1",
          "--name",
          "vm1",
          "--labels",
          "app=db,tier=back",
          "--mac",
          "52:54:00:AB:CD:EF",
          "--node",
          "h1",
          "--datastore",
          url,
          "-o",
          "json",
        ],
        o.io,
      ),
      0,
      o.err(),
    );
    const r = JSON.parse(o.text()) as { endpoint: string; addresses: string[] };
    assert.equal(r.endpoint, "h1-libvirt-vm1-eth0");
    assert.equal(r.addresses.length, 2);
    assert.match(r.addresses[0]!, /^10\.9\.0\.\d+$/);
    assert.match(r.addresses[1]!, /^fd09::/);

    const s2 = await openStore(url);
    const wep = await new ResourceClient(s2).get<
      { kind: string; metadata: { labels: Record<string, string> }; spec: Record<string, unknown> } & import("../model/index.js").Resource
    >("WorkloadEndpoint", "h1-libvirt-vm1-eth0", "default");
    assert.ok(wep);
    assert.deepEqual(wep.spec, {
      orchestrator: "libvirt",
      workload: "vm1",
      node: "h1",
      endpoint: "eth0",
      interfaceName: "tapvm1",
      mac: "52:54:00:ab:cd:ef",
      ipNetworks: [`${r.addresses[0]}/32`, `${r.addresses[1]}/128`],
      profiles: ["kns.default"],
    });
    assert.deepEqual(wep.metadata.labels, { app: "db", tier: "back", "projectcalico.org/namespace": "default", "projectcalico.org/orchestrator": "libvirt" });
    assert.ok(await s2.get(resourceKey("Profile", "kns.default")), "the namespace profile is made");
    await s2.close();

    o = io();
    assert.equal(await check(["--datastore", url], o.io), 0, `in use is not leaked: ${o.text()}`);

    // refused: the same tap again, the same VM again, a bad MAC, a node that does not exist
    for (const [args, code] of [
      [["--interface", "tapvm1", "--name", "vm2", "--node", "h1"], /already has interface tapvm1.*CLI_WORKLOAD_EXISTS|CLI_WORKLOAD_EXISTS/],
      [["--interface", "tapvm2", "--name", "vm1", "--node", "h1"], /CLI_WORKLOAD_EXISTS/],
      [["--interface", "tapvm2", "--name", "vm2", "--node", "h1", "--mac", "01:00:00:00:00:01"], /CLI_BAD_WORKLOAD/],
      [["--interface", "tapvm2", "--name", "vm2", "--node", "h9"], /CLI_NO_NODE/],
    ] as const) {
      await assert.rejects(workload(["add", ...args, "--datastore", url], io().io), (e: Error & { code?: string }) => code.test(`${e.message} ${e.code}`));
    }
    await assert.rejects(workload(["add", "--name", "x", "--datastore", url], io().io), { code: "CLI_USAGE" }, "--interface is required");

    o = io();
    assert.equal(await workload(["delete", "--name", "vm1", "--datastore", url], o.io), 0);
    assert.match(o.text(), /deleted h1-libvirt-vm1-eth0; released 2 address/);
    o = io();
    assert.equal(await check(["--datastore", url], o.io), 0, o.text());
    const s3 = await openStore(url);
    assert.equal((await new ResourceClient(s3).list("WorkloadEndpoint")).items.length, 0);
    assert.equal((await s3.list("/calico/ipam/v2/handle/")).items.length, 0, "no handle left");
    await s3.close();
    await assert.rejects(workload(["delete", "--name", "vm1", "--datastore", url], io().io), { code: "CLI_NO_WORKLOAD" });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
