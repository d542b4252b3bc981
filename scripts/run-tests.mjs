// Runs the compiled test files with Node's built-in test runner: unit tests beside the code
// (dist/src/**/*.test.js) and functional tests (dist/test/**/*.test.js).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

const dirs = ["dist/src", "dist/test"].filter((d) => existsSync(d));
const args = ["--test", "--test-concurrency=2", ...process.argv.slice(2), ...dirs];
const r = spawnSync(process.execPath, args, { stdio: "inherit" });
process.exit(r.status ?? 1);
