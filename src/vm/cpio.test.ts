/** The newc cpio encoder: golden bytes of a small archive, and `cpio -t` reading a bigger one. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { encodeCpio } from "./cpio.js";

test("cpio newc: golden bytes of one file and the trailer", () => {
  const got = Buffer.from(encodeCpio([{ type: "file", path: "/init", data: new TextEncoder().encode("hi\n"), mode: 0o755 }])).toString("latin1");
  const want =
    "070701" +
    "00000001" +
    "000081ed" +
    "00000000" +
    "00000000" +
    "00000001" +
    "00000000" +
    "00000003" +
    "00000000" +
    "00000000" +
    "00000000" +
    "00000000" +
    "00000005" +
    "00000000" +
    "init\0" +
    "\0" + // 110 + 5 = 115, padded to 116
    "hi\n" +
    "\0" +
    "070701" +
    "00000000" +
    "00000000" +
    "00000000" +
    "00000000" +
    "00000001" +
    "00000000" +
    "00000000" +
    "00000000" +
    "00000000" +
    "00000000" +
    "00000000" +
    "0000000b" +
    "00000000" +
    "TRAILER!!!\0" +
    "\0\0\0"; // 110 + 11 = 121, padded to 124
  assert.equal(got, want);
});

test("cpio newc: what busybox cpio lists back", { skip: spawnSync("busybox", ["true"]).status !== 0 }, () => {
  const archive = encodeCpio([
    { type: "dir", path: "bin" },
    { type: "file", path: "bin/busybox", data: new Uint8Array(1001), mode: 0o755 },
    { type: "symlink", path: "bin/sh", target: "busybox" },
    { type: "dir", path: "dev" },
    { type: "chardev", path: "dev/console", major: 5, minor: 1 },
  ]);
  const r = spawnSync("busybox", ["cpio", "-t", "-v"], { input: archive });
  assert.equal(r.status, 0, String(r.stderr));
  const lines = String(r.stdout).trim().split("\n");
  assert.deepEqual(
    lines.map((l) => (l.split(/\s+/).slice(-1)[0] === "busybox" ? l.split(/\s+/).slice(-3).join(" ") : l.split(/\s+/).pop())),
    ["bin", "bin/busybox", "bin/sh -> busybox", "dev", "dev/console"],
  );
  assert.match(lines[1]!, /^-rwxr-xr-x .* 1001 /);
  assert.match(lines[4]!, /^crw-------/);
});
