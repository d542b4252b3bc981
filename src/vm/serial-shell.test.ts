/** The serial shell's output parsing: prompts, CR LF, an echoed command line. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseShellOutput } from "./serial-shell.js";

test("serial shell: output between the markers, whatever the tty adds", () => {
  const m = "__tabby1x2";
  assert.deepEqual(parseShellOutput(`~ # ${m}-start\r\nR\r\n${m}-end 0\r\n~ # `, m), { code: 0, output: "R" });
  assert.deepEqual(
    parseShellOutput(`printf '%s-start\\n' ${m}; ping x; printf '%s-end %d\\n' ${m} $?\r\n${m}-start\r\nline 1\r\nline 2\r\n${m}-end 1\r\n`, m),
    { code: 1, output: "line 1\nline 2" },
  );
  assert.equal(parseShellOutput(`${m}-start\r\nstill running`, m), undefined);
});

test("serial shell: a command longer than a tty line is refused, not left hanging", async () => {
  const { vmShell } = await import("./serial-shell.js");
  await assert.rejects(vmShell("/nonexistent", "x".repeat(5000)), { code: "LAB_VM_SHELL" });
  await assert.rejects(vmShell("/nonexistent", "a\nb"), { code: "LAB_VM_SHELL" });
});
