// Runs the compiled test files with Node's built-in test runner: unit tests beside the code
// (dist/src/**/*.test.js) and functional tests (dist/test/**/*.test.js). Files are listed
// explicitly, because Node would otherwise treat every file under a `test` folder (helpers,
// worker scripts) as a test file.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";

function testFiles(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith(".test.js"))
    .map((f) => join(dir, f))
    .sort();
}

const filters = process.argv.slice(2).filter((a) => !a.startsWith("-"));
const flags = process.argv.slice(2).filter((a) => a.startsWith("-"));
let files = [...testFiles("dist/src"), ...testFiles("dist/test")];
if (filters.length) files = files.filter((f) => filters.some((p) => f.includes(p)));
const r = spawnSync(process.execPath, ["--test", "--test-concurrency=2", ...flags, ...files], { stdio: "inherit" });
process.exit(r.status ?? 1);
