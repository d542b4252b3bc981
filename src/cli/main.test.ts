// The `tabby` binary when its reader goes away early (`tabby --help | head -1`): it ends quietly,
// with no unhandled EPIPE and no stack trace.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { queryControl } from "../bgp/control.js";

test("tabby --help into a reader that closes at once: no EPIPE error, no stack trace", async () => {
  const main = fileURLToPath(new URL("./main.js", import.meta.url));
  const child = spawn(process.execPath, [main, "--help"], { stdio: ["ignore", "pipe", "pipe"] });
  child.stdout.destroy(); // the reader is gone before the help is written
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((r) => child.once("close", r));
  assert.doesNotMatch(stderr, /EPIPE|Unhandled/, stderr);
  assert.equal(code, 0);
});

test("a daemon whose log reader goes away ends with a failure status (141), not 0: a supervisor restarting on failure restarts it", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tabby-main-epipe-"));
  const conf = join(dir, "speaker.yaml");
  const sock = join(dir, "control.sock");
  writeFileSync(conf, `routerId: 10.0.0.1\nasNumber: 64512\nlisten: false\ncontrol: ${sock}\n`);
  const main = fileURLToPath(new URL("./main.js", import.meta.url));
  const child = spawn(process.execPath, [main, "bgp", "run", "-c", conf], { stdio: ["ignore", "ignore", "pipe"] });
  try {
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    // up, its SIGHUP handler in place: the control socket answers
    for (;;) {
      const up =
        existsSync(sock) &&
        (await queryControl(sock, { op: "peers" }, 1000).then(
          () => true,
          () => false,
        ));
      if (up) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    child.stderr.destroy(); // the log reader is gone
    child.kill("SIGHUP"); // a reload, which logs a line
    assert.equal(await exited, 141);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
});
