// Runs the compiled test files with Node's built-in test runner: unit tests beside the code
// (dist/src/**/*.test.js) and functional tests (dist/test/**/*.test.js). Files are listed
// explicitly, because Node would otherwise treat every file under a `test` folder (helpers,
// worker scripts) as a test file.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

function testFiles(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith(".test.js"))
    .map((f) => join(dir, f))
    .sort();
}

// The CNI plugin bundles (dist/cni/*.cjs, what `tabby cni install` installs) are rebuilt from the
// compiled dist/src when any compiled module is newer, so the tests never run a bundle older than
// the code `tsc` just built (and a build that just made them is not repeated).
const newest = (dir) =>
  Math.max(
    0,
    ...readdirSync(dir, { recursive: true })
      .map(String)
      .filter((f) => f.endsWith(".js"))
      .map((f) => statSync(join(dir, f)).mtimeMs),
  );
const bundleTime = (f) => (existsSync(f) ? statSync(f).mtimeMs : 0);
if (Math.min(bundleTime("dist/cni/tabby.cjs"), bundleTime("dist/cni/tabby-ipam.cjs")) < newest("dist/src")) {
  const built = spawnSync(process.execPath, ["scripts/build-cni.mjs"], { stdio: "inherit" });
  if (built.status !== 0) process.exit(built.status ?? 1);
}

const filters = process.argv.slice(2).filter((a) => !a.startsWith("-"));
const flags = process.argv.slice(2).filter((a) => a.startsWith("-"));
let files = [...testFiles("dist/src"), ...testFiles("dist/test")];
if (filters.length) files = files.filter((f) => filters.some((p) => f.includes(p)));
if (files.length === 0) {
  // node --test with no files would discover and run everything instead
  console.error(`run-tests: no compiled test file matches ${filters.join(", ") || "(none built: run npx tsc -p . first)"}`);
  process.exit(1);
}
// The IPAM hammer (minutes of CPU-bound datastore traffic) goes first, beside the quick unit
// tests, rather than beside a timing-sensitive lab test such as the etcd freeze.
files = [...files.filter((f) => f.includes("hammer")), ...files.filter((f) => !f.includes("hammer"))];
const r = spawnSync(process.execPath, ["--test", "--test-concurrency=2", ...flags, ...files], { stdio: "inherit" });
process.exit(r.status ?? 1);
