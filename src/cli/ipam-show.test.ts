import { test } from "node:test";
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { resourceKey } from "../model/keys.js";
import { MemoryStore } from "../datastore/memory.js";
import { Ipam } from "../ipam/ipam.js";
import { collect, renderJson, renderTable, run } from "./ipam-show.js";
import { UsageError } from "./command.js";

async function fixture(): Promise<MemoryStore> {
  const s = new MemoryStore();
  const pool = (name: string, cidr: string, spec: Record<string, unknown> = {}) =>
    s.put(resourceKey("IPPool", name), JSON.stringify({ apiVersion: "projectcalico.org/v3", kind: "IPPool", metadata: { name }, spec: { cidr, ...spec } }));
  await pool("default-ipv4", "10.65.0.0/24", { blockSize: 26 });
  await pool("default-ipv6", "fd65::/64");
  await pool("old", "10.70.0.0/24", { disabled: true });
  const ipam = new Ipam(s);
  await ipam.autoAssign({ handle: "a", node: "n1", num4: 5, num6: 1 });
  await ipam.autoAssign({ handle: "b", node: "n2", num4: 1, num6: 0 });
  return s;
}

test("ipam show: per-pool usage like calicoctl, and blocks with their affinity", async () => {
  const report = await collect(await fixture());
  assert.equal(
    renderTable(report, false),
    [
      "+--------------------+--------------+----------------------+------------+-----------------------------+",
      "|      GROUPING      |     CIDR     |      IPS TOTAL       | IPS IN USE |          IPS FREE           |",
      "+--------------------+--------------+----------------------+------------+-----------------------------+",
      "| IP Pool            | 10.65.0.0/24 |                  256 | 6 (2%)     | 250 (98%)                   |",
      "| IP Pool (disabled) | 10.70.0.0/24 |                  256 | 0 (0%)     | 256 (100%)                  |",
      "| IP Pool            | fd65::/64    | 18446744073709551616 | 1 (0%)     | 18446744073709551615 (100%) |",
      "+--------------------+--------------+----------------------+------------+-----------------------------+",
      "",
    ].join("\n"),
  );
  // Which blocks the hosts got depends on their hostname-seeded order; that order is golden-tested in ipam/.
  assert.equal(
    renderTable(report, true),
    [
      "+--------------------+-------------------------------+----------------------+------------+-----------------------------+----------+",
      "|      GROUPING      |             CIDR              |      IPS TOTAL       | IPS IN USE |          IPS FREE           | AFFINITY |",
      "+--------------------+-------------------------------+----------------------+------------+-----------------------------+----------+",
      "| IP Pool            | 10.65.0.0/24                  |                  256 | 6 (2%)     | 250 (98%)                   |          |",
      "| Block              | 10.65.0.128/26                |                   64 | 1 (2%)     | 63 (98%)                    | host:n2  |",
      "| Block              | 10.65.0.192/26                |                   64 | 5 (8%)     | 59 (92%)                    | host:n1  |",
      "| IP Pool (disabled) | 10.70.0.0/24                  |                  256 | 0 (0%)     | 256 (100%)                  |          |",
      "| IP Pool            | fd65::/64                     | 18446744073709551616 | 1 (0%)     | 18446744073709551615 (100%) |          |",
      "| Block              | fd65::84a7:3a62:2fda:dfc0/122 |                   64 | 1 (2%)     | 63 (98%)                    | host:n1  |",
      "+--------------------+-------------------------------+----------------------+------------+-----------------------------+----------+",
      "",
    ].join("\n"),
  );
  const doc = JSON.parse(renderJson(report, true)) as {
    pools: { cidr: string; total: string; inUse: number; free: string; blocks: { affinity: string; inUse: number }[] }[];
  };
  assert.deepEqual(
    doc.pools.map((p) => [p.cidr, p.total, p.inUse, p.free, p.blocks.map((b) => `${b.affinity}:${b.inUse}`)]),
    [
      ["10.65.0.0/24", "256", 6, "250", ["host:n2:1", "host:n1:5"]],
      ["10.70.0.0/24", "256", 0, "256", []],
      ["fd65::/64", "18446744073709551616", 1, "18446744073709551615", ["host:n1:1"]],
    ],
  );
  assert.equal(
    (JSON.parse(renderJson(report, false)) as { pools: object[] }).pools.every((p) => !("blocks" in p)),
    true,
  );
});

test("ipam show: blocks whose pool is gone are listed apart", async () => {
  const s = await fixture();
  await s.delete(resourceKey("IPPool", "default-ipv6"));
  const report = await collect(s);
  assert.deepEqual(
    report.orphanBlocks.map((b) => b.affinity),
    ["host:n1"],
  );
  assert.match(renderTable(report, true), /\| Block \(no pool\) +\| fd65::/);
});

function io() {
  const out = new PassThrough();
  const err = new PassThrough();
  let text = "";
  out.on("data", (d: Buffer) => (text += d.toString()));
  return { io: { stdout: out, stderr: err, env: {} as NodeJS.ProcessEnv }, text: () => text };
}

test("ipam show: command line", async () => {
  const a = io();
  assert.equal(await run(["--datastore", "memory://", "-o", "json"], a.io), 0);
  assert.deepEqual(JSON.parse(a.text()), { pools: [] });
  const b = io();
  assert.equal(await run(["--datastore", "memory://", "--show-blocks"], b.io), 0);
  assert.match(b.text(), /GROUPING .* AFFINITY/);
  await assert.rejects(run(["--bogus"], io().io), UsageError);
  await assert.rejects(run(["-o", "yaml", "--datastore", "memory://"], io().io), UsageError);
  await assert.rejects(run(["extra"], io().io), UsageError);
});
