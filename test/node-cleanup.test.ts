// `tabby node cleanup --netns`: in a namespace this test makes, leaves of a stopped agent (a
// proto 152 route in main and in another table, an IPv6 one, the nft table, a workload veth
// whose container side is in a second namespace) are all removed, and other state stays.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { tabby } from "./helpers.js";

const canRun = process.getuid?.() === 0;
const ns = `tbyclean${process.pid}`;
const wl = `tbycleanw${process.pid}`;
const sh = (cmd: string, ...args: string[]) => execFileSync(cmd, args, { encoding: "utf8" });
const inNs = (...args: string[]) => sh("ip", "netns", "exec", ns, ...args);

after(() => {
  for (const n of [ns, wl]) {
    try {
      sh("ip", "netns", "del", n);
    } catch {}
  }
});

test("node cleanup removes tabby's routes, nft table and workload interfaces, nothing else", { skip: !canRun && "needs root" }, async () => {
  sh("ip", "netns", "add", ns);
  sh("ip", "netns", "add", wl);
  inNs("ip", "link", "set", "lo", "up");
  inNs("ip", "link", "add", "tabc0ffee00001", "type", "veth", "peer", "name", "eth0", "netns", wl);
  inNs("ip", "link", "add", "keepme0", "type", "veth", "peer", "name", "keepme1");
  inNs("ip", "link", "set", "tabc0ffee00001", "up");
  inNs("ip", "link", "set", "keepme0", "up");
  inNs("ip", "addr", "add", "10.99.0.1/24", "dev", "keepme0");
  inNs("ip", "route", "add", "10.65.0.5/32", "dev", "tabc0ffee00001", "proto", "152");
  inNs("ip", "route", "add", "10.66.0.0/26", "via", "10.99.0.2", "proto", "152", "table", "100");
  inNs("ip", "route", "add", "10.67.0.0/16", "via", "10.99.0.2");
  inNs("ip", "-6", "route", "add", "fd00:65::/122", "dev", "tabc0ffee00001", "proto", "152");
  inNs("nft", "add", "table", "inet", "tabby");
  inNs("nft", "add", "table", "inet", "other");

  const dry = await tabby(["node", "cleanup", "--netns", ns, "--dry-run"]);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /would remove workload interface tabc0ffee00001/);
  assert.match(inNs("nft", "list", "tables"), /inet tabby/, "a dry run changes nothing");

  const r = await tabby(["node", "cleanup", "--netns", ns]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.equal(inNs("ip", "-4", "route", "show", "table", "all", "proto", "152").trim(), "");
  assert.equal(inNs("ip", "-6", "route", "show", "table", "all", "proto", "152").trim(), "");
  assert.match(inNs("ip", "route", "show"), /10\.67\.0\.0\/16 via 10\.99\.0\.2/);
  const tables = inNs("nft", "list", "tables");
  assert.doesNotMatch(tables, /inet tabby/);
  assert.match(tables, /inet other/);
  const links = inNs("ip", "-o", "link", "show");
  assert.doesNotMatch(links, /tabc0ffee00001/);
  assert.match(links, /keepme0/);

  const again = await tabby(["node", "cleanup", "--netns", ns]);
  assert.equal(again.code, 0);
  assert.match(again.stdout, /nothing of tabby's left/);
});
