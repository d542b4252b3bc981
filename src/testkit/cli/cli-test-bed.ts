/**
 * Test support for CLI commands run in-process: captured stdout/stderr, optional stdin, and a
 * per-test MemoryStore injected as the datastore, with a scratch directory for manifest files.
 * Not used by tabby itself.
 */
import { before, after, beforeEach } from "node:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { MemoryStore } from "../../datastore/memory.js";
import { useStoreForTests } from "../../cli/datastore-flag.js";

/** Runs one command module's `run` with captured output. */
export async function runCli(mod: { run: (argv: string[], io: never) => Promise<number> }, argv: string[], stdin?: string) {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = "";
  let stderr = "";
  out.on("data", (d) => (stdout += d));
  err.on("data", (d) => (stderr += d));
  const io = { stdout: out, stderr: err, env: {}, ...(stdin !== undefined ? { stdin: Readable.from([stdin]) } : {}) };
  const code = await mod.run(argv, io as never);
  return { code, stdout, stderr };
}

/**
 * Registers the hooks: a fresh MemoryStore before each test (`bed.store`), and a
 * scratch directory (`file(name, text)` writes into it) removed when the file's tests end.
 */
export function cliTestBed(prefix: string) {
  let dir = "";
  let store = new MemoryStore();
  before(() => {
    dir = mkdtempSync(join(tmpdir(), prefix));
  });
  after(() => {
    useStoreForTests(undefined);
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    store = new MemoryStore();
    useStoreForTests(store);
  });
  return {
    /** This test's store. */
    get store(): MemoryStore {
      return store;
    },
    /** The scratch directory. */
    get dir(): string {
      return dir;
    },
    file(name: string, text: string): string {
      const p = join(dir, name);
      writeFileSync(p, text);
      return p;
    },
  };
}
