// `tabby node check` and the schema refusal of `tabby node run`, as a host runs them: the check
// in a namespace this test makes (port 179 free, forwarding off) with a CNI directory where
// another configuration wins; the agent against a datastore a newer tabby wrote.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLI, run, tabby } from "./helpers.js";
import { SqliteStore } from "../src/datastore/sqlite.js";
import { SCHEMA_KEY } from "../src/datastore/schema.js";

const canRun = process.getuid?.() === 0;
const ns = `ttpf${process.pid}`;
const W = mkdtempSync(join(tmpdir(), `${ns}-`));
after(() => {
  try {
    execFileSync("ip", ["netns", "del", ns]);
  } catch {}
  rmSync(W, { recursive: true, force: true });
});

test("node check: every check reported; a CNI config that wins is a FAIL with its fix; exit 1", { skip: !canRun && "needs root" }, async () => {
  execFileSync("ip", ["netns", "add", ns]);
  const conf = join(W, "net.d");
  mkdirSync(conf);
  writeFileSync(join(conf, "05-bridge.conflist"), "{}");
  writeFileSync(join(conf, "10-tabby.conflist"), "{}");
  const r = await run("ip", [
    "netns",
    "exec",
    ns,
    process.execPath,
    CLI,
    "node",
    "check",
    "--conf-dir",
    conf,
    "--datastore",
    `sqlite://${join(W, "check.db")}`,
    "--control",
    join(W, "none.sock"),
  ]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  for (const check of ["node", "kernel", "nft", "nftables", "iproute2", "sysctl net.ipv4.ip_forward", "clock", "datastore", "cni", "bgp port"]) {
    assert.match(r.stdout, new RegExp(`^(ok|warn|FAIL) +${check.replace(/\./g, "\\.")} `, "m"), `${check} reported:\n${r.stdout}`);
  }
  assert.match(r.stdout, /^FAIL cni +05-bridge\.conflist in .* sorts before 10-tabby\.conflist.*\n +fix: move .*05-bridge\.conflist away$/m);
  assert.match(r.stdout, /^warn sysctl net\.ipv4\.ip_forward +net\.ipv4\.ip_forward = 0/m, "a fresh namespace does not forward");
  assert.match(r.stdout, /^ok +bgp port +port 179 is free$/m);
  // a preflight creates nothing: the agent makes the SQLite file
  assert.match(r.stdout, /^ok +datastore +\/.*check\.db does not exist yet \(tabby node run creates it\)$/m);
  assert.equal(existsSync(join(W, "check.db")), false);
  assert.match(r.stdout, /1 check\(s\) failed\n$/);
});

test("node run refuses a datastore written by a newer, incompatible tabby (DS_SCHEMA_TOO_NEW); node check says so too", async () => {
  const db = join(W, "newer.db");
  const s = SqliteStore.open(db);
  await s.put(SCHEMA_KEY, JSON.stringify({ version: 7, minReader: 7, writtenBy: "9.9.9" }));
  await s.close();
  const ds = `sqlite://${db}`;
  const r = await tabby(["node", "run", "--name", "h1", "--ip", "10.98.0.1/24", "--ip6", "none", "--datastore", ds, "--control", join(W, "n.sock")]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /written by tabby 9\.9\.9.*upgrade this host's tabby.*\[DS_SCHEMA_TOO_NEW\]/s);
  const c = await tabby(["node", "check", "--datastore", ds, "--conf-dir", join(W, "nothing"), "--port", "1"]);
  assert.match(c.stdout, /^FAIL datastore +the datastore holds schema 7 written by tabby 9\.9\.9/m);
});
