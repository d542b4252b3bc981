/**
 * Moving a whole datastore between backends with the real binary: SQLite → `datastore export`
 * → `datastore import` into a real etcd → `datastore export` from etcd gives the same file, byte
 * for byte (resources with their uid and creationTimestamp, IPAM keys raw). A second import into
 * the now non-empty etcd is refused and changes nothing; `patch` and `label` then work on etcd.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import { SqliteStore } from "../src/datastore/sqlite.js";
import { startEtcd, type EtcdServer } from "./etcd-server.js";
import { run, CLI } from "./helpers.js";

const FIXTURES = fileURLToPath(new URL("../../test/fixtures/calico/", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "ttd2-migrate-"));
const sqlite = `sqlite://${join(dir, "tabby.db")}`;
let etcd: EtcdServer;

before(async () => {
  etcd = await startEtcd();
});
after(async () => {
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const tabby = (...args: string[]) => run(process.execPath, [CLI, ...args], { env: { TABBY_LAB_ROOT: dir } });

test("sqlite → export → import into etcd → export: identical; re-import refused; patch and label on etcd", async () => {
  for (const f of readdirSync(FIXTURES).filter((x) => x.endsWith(".yaml"))) {
    const r = await tabby("apply", "-f", join(FIXTURES, f), "--datastore", sqlite);
    assert.equal(r.code, 0, r.stderr);
  }
  const s = SqliteStore.open(join(dir, "tabby.db"));
  await s.put(
    "/calico/ipam/v2/assignment/ipv4/block/10.1.0.0-26",
    JSON.stringify({
      cidr: "10.1.0.0/26",
      affinity: "host:rack1-host1",
      allocations: [0, null],
      unallocated: [1],
      attributes: [{ handle_id: "h1" }],
      deleted: false,
    }),
  );
  await s.put("/calico/ipam/v2/host/rack1-host1/ipv4/block/10.1.0.0-26", '{"state":"confirmed","deleted":"false"}');
  await s.put("/calico/ipam/v2/handle/h1", '{"block":{"10.1.0.0/26":1},"deleted":false}');
  await s.close();

  const a = join(dir, "from-sqlite.yaml");
  const b = join(dir, "from-etcd.yaml");
  const ex1 = await tabby("datastore", "export", "-o", a, "--datastore", sqlite);
  assert.equal(ex1.code, 0, ex1.stderr);
  assert.match(ex1.stderr, /Exported 11 key\(s\)/);
  const im = await tabby("datastore", "import", "-f", a, "--datastore", etcd.url);
  assert.equal(im.code, 0, im.stderr);
  assert.match(im.stdout, /Imported 11 key\(s\) into etcd:\/\//);
  const ex2 = await tabby("datastore", "export", "-o", b, "--datastore", etcd.url);
  assert.equal(ex2.code, 0, ex2.stderr);
  assert.equal(readFileSync(b, "utf8"), readFileSync(a, "utf8"));

  const again = await tabby("datastore", "import", "-f", a, "--datastore", etcd.url);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /is not empty/);

  const p = await tabby("patch", "bgppeer", "some.name", "-p", '{"spec":{"asNumber":64999}}', "--datastore", etcd.url);
  assert.equal(p.code, 0, p.stderr);
  const l = await tabby("label", "hostendpoint", "some.name", "rack=r7", "--datastore", etcd.url);
  assert.equal(l.code, 0, l.stderr);
  const peer = await tabby("get", "bgppeer", "some.name", "-o", "json", "--datastore", etcd.url);
  assert.equal((JSON.parse(peer.stdout) as { spec: { asNumber: number } }).spec.asNumber, 64999);
  const hep = await tabby("get", "hep", "some.name", "-o", "json", "--datastore", etcd.url);
  assert.deepEqual((JSON.parse(hep.stdout) as { metadata: { labels: Record<string, string> } }).metadata.labels, { type: "production", rack: "r7" });
});
