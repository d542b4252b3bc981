import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ProcSysctl, applySysctls, workloadSysctls } from "./sysctl.js";

const root = mkdtempSync(join(tmpdir(), "tabby-sysctl-"));
after(() => rmSync(root, { recursive: true, force: true }));

test("ProcSysctl writes only the sysctls that do not already hold the value", async () => {
  const list = workloadSysctls("tabx", { v4: true, v6: false });
  for (const s of list) {
    mkdirSync(join(root, s.path, ".."), { recursive: true });
    writeFileSync(join(root, s.path), "0\n"); // as /proc/sys prints it
  }
  // proxy_delay already holds 0: left alone (its mtime stays where it was put)
  const delay = list.find((s) => s.path.endsWith("proxy_delay"))!;
  for (const s of list) utimesSync(join(root, s.path), 1000, 1000);
  await applySysctls(new ProcSysctl(root), list);
  for (const s of list) {
    assert.equal(readFileSync(join(root, s.path), "utf8").trim(), s.value, s.path);
    assert.equal(statSync(join(root, s.path)).mtimeMs === 1000 * 1000, s === delay, s.path);
  }
});

test("ProcSysctl: a sysctl that cannot be read is written, and its failure names it", async () => {
  await assert.rejects(applySysctls(new ProcSysctl(root), [{ path: "net/ipv4/conf/nosuch/forwarding", value: "1" }]), {
    code: "DP_SYSCTL_FAILED",
    message: /net\.ipv4\.conf\.nosuch\.forwarding=1/,
  });
});
