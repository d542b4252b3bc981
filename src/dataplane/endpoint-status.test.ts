import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { statusMatches, waitEndpointProgrammed } from "./endpoint-status.js";
import { EndpointStatusPublisher } from "./endpoint-status-publisher.js";

const root = await mkdtemp(join(tmpdir(), "tabby-epstatus-"));
after(() => rm(root, { recursive: true, force: true }));

test("publisher: one file per interface, rewritten on change, stale ones (also a previous run's) removed", async () => {
  const dir = join(root, "pub");
  await mkdir(dir);
  await writeFile(join(dir, "tabold"), "{}");
  const p = new EndpointStatusPublisher(dir);
  await p.publish([{ iface: "tab1", id: "k1", addrs: ["fd00::1/128", "10.0.0.1/32"] }]);
  assert.deepEqual(await readdir(dir), ["tab1"]);
  assert.equal(await readFile(join(dir, "tab1"), "utf8"), '{"id":"k1","addrs":["10.0.0.1/32","fd00::1/128"]}\n');
  await p.publish([{ iface: "tab2", id: "k2", addrs: ["10.0.0.2/32"] }]);
  assert.deepEqual(await readdir(dir), ["tab2"]);
});

test("statusMatches: every address must be named", () => {
  assert.equal(statusMatches('{"addrs":["10.0.0.1/32","fd00::1/128"]}', ["10.0.0.1/32"]), true);
  assert.equal(statusMatches('{"addrs":["10.0.0.9/32"]}', ["10.0.0.1/32"]), false);
  assert.equal(statusMatches("garbage", ["10.0.0.1/32"]), false);
  assert.equal(statusMatches('{"addrs":[]}', []), false);
});

test("wait: true once the file names the addresses; false without a directory; false at the deadline", async () => {
  const dir = join(root, "wait");
  await mkdir(dir);
  await writeFile(join(dir, "tabw"), '{"id":"old","addrs":["10.0.0.7/32"]}');
  const t = 0;
  const clock = { now: () => t };
  const w = waitEndpointProgrammed({ dir, iface: "tabw", addrs: ["10.0.0.8/32"], timeoutMs: 1000 }, clock, 1);
  await new Promise((r) => setTimeout(r, 20));
  await writeFile(join(dir, "tabw"), '{"id":"new","addrs":["10.0.0.8/32"]}');
  assert.equal(await w, true);
  assert.equal(await waitEndpointProgrammed({ dir: join(root, "absent"), iface: "tabw", addrs: ["10.0.0.8/32"], timeoutMs: 1000 }, clock, 1), false);
  // A fake clock that passes 100 ms per look: the wait gives up after its deadline.
  let looks = 0;
  const ticking = { now: () => looks++ * 100 };
  assert.equal(await waitEndpointProgrammed({ dir, iface: "tabx", addrs: ["10.0.0.9/32"], timeoutMs: 500 }, ticking, 1), false);
  assert.ok(looks >= 6 && looks < 10);
});
