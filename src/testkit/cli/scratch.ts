/**
 * Test support for tests that start `tabby` processes: a scratch directory and the pids of the
 * processes still running, both cleaned up when the file's tests end (SIGKILL for what is left,
 * the directory removed), also when a test failed. Not used by tabby itself.
 */
import { after } from "node:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export function scratchWithProcesses(prefix: string): { dir: string; pids: Set<number> } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const pids = new Set<number>();
  after(() => {
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        /* gone */
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, pids };
}
