// The idle memory reducer (memory-reducer.ts): when it compacts, and that the compaction it uses
// really gives the young generation back.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { DEFAULT_REDUCER_POLICY, shouldReduce } from "./memory-reducer.js";
import { loadMallocTrim } from "./libc.js";

test("memory reducer: only when idle over the interval, and the young generation or the RSS has grown", () => {
  const MB = 1 << 20;
  const calm = { rssGrowthBytes: 0 };
  assert.equal(shouldReduce({ elu: 0.01, newSpaceBytes: 64 * MB, ...calm }), true);
  assert.equal(shouldReduce({ elu: 0.05, newSpaceBytes: 9 * MB, ...calm }), true);
  assert.equal(shouldReduce({ elu: 0.06, newSpaceBytes: 64 * MB, ...calm }), false, "busy");
  assert.equal(shouldReduce({ elu: 0, newSpaceBytes: 8 * MB, ...calm }), false, "at most the threshold");
  assert.equal(shouldReduce({ elu: 0, newSpaceBytes: 1 * MB, ...calm }), false, "already small");
  assert.equal(shouldReduce({ elu: 0.2, newSpaceBytes: 64 * MB, ...calm }, { ...DEFAULT_REDUCER_POLICY, maxElu: 0.25 }), true);
  // a burst that V8 already shrank the young generation after: its garbage and malloc'd buffers remain
  assert.equal(shouldReduce({ elu: 0.01, newSpaceBytes: 1 * MB, rssGrowthBytes: 4 * MB }), true, "grown since the last");
  assert.equal(shouldReduce({ elu: 0.01, newSpaceBytes: 1 * MB, rssGrowthBytes: 4 * MB - 1 }), false, "not grown enough");
  assert.equal(shouldReduce({ elu: 0.3, newSpaceBytes: 1 * MB, rssGrowthBytes: 40 * MB }), false, "grown but busy");
  assert.equal(shouldReduce({ elu: 0, newSpaceBytes: 1 * MB, rssGrowthBytes: -2 * MB }), false, "shrunk");
});

test("memory reducer: after a burst, an idle process's young generation shrinks back", () => {
  // a child: allocate a burst, start the reducer with a short interval, wait idle, report new space
  const mod = fileURLToPath(new URL("./memory-reducer.js", import.meta.url));
  const src = `
    import { getHeapSpaceStatistics } from "node:v8";
    import { startMemoryReducer } from ${JSON.stringify(mod)};
    const ns = () => getHeapSpaceStatistics().find((s) => s.space_name === "new_space").space_size;
    const keep = [];
    for (let i = 0; i < 2e6; i++) { const o = { a: i, b: [i] }; if (i % 10 === 0) keep.push(o); }
    const before = ns();
    let done = false;
    let trimmed = false;
    startMemoryReducer({ intervalMs: 300, trim: () => () => { trimmed = true; return 1; }, log: () => { done = true; } });
    const t = setInterval(() => { if (done) { console.log(JSON.stringify({ before, after: ns(), kept: keep.length, trimmed })); process.exit(0); } }, 100);
    setTimeout(() => { console.log(JSON.stringify({ before, after: ns(), timeout: true })); process.exit(0); }, 20000);
  `;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", src], { encoding: "utf8" });
  const out = JSON.parse(r.stdout.trim().split("\n").pop()!) as { before: number; after: number; timeout?: boolean; trimmed?: boolean };
  assert.equal(out.timeout, undefined, r.stdout + r.stderr);
  assert.ok(out.before > DEFAULT_REDUCER_POLICY.minNewSpaceBytes, `the burst grew new space: ${out.before}`);
  assert.ok(out.after <= DEFAULT_REDUCER_POLICY.minNewSpaceBytes, `shrunk: ${out.before} → ${out.after}`);
  assert.equal(out.trimmed, true, "malloc's free pages given back after the collection");
});

test("memory reducer: glibc's malloc_trim is found through koffi (Linux, glibc)", () => {
  const trim = loadMallocTrim();
  assert.equal(typeof trim, "function");
  assert.ok([0, 1].includes(trim!()), "malloc_trim returns 0 or 1");
});
