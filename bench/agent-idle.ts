/**
 * An idle agent's memory (issue #15 step 3): `tabby node run` in its own namespace with a fresh
 * SQLite datastore, mesh off, no peers and no workloads, as a host with nothing to do yet. Printed:
 * RSS, RssAnon, RssFile, Pss and Private (bench/bgp-util.ts procMemDetail) 5 s after the start and
 * after `--idle` seconds (the memory reducer's first idle interval has passed), the V8 heap by
 * space (control op `memory`), the modules it loaded by unit (src/testkit/cli/record-modules.ts),
 * and Node's own floor in the same run. Needs root.
 *
 * Run: npx tsc -p . && node dist/bench/agent-idle.js [--idle 30] [--cli path/to/dist/src/cli/main.js] [--keep]
 * (--cli: another build's CLI, e.g. the main checkout's, for a before/after in one sitting).
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { CLI, flag, memLine, nodeFloor, procMemDetail, sh, tabbyMemoryLine, trySh } from "./bgp-util.js";

const argv = process.argv.slice(2);
const IDLE_S = flag(argv, "--idle", 30);
const cli = argv.includes("--cli") ? argv[argv.indexOf("--cli") + 1]! : CLI;
const keep = argv.includes("--keep");
const NS = `ttai${process.pid}`;
const dir = mkdtempSync(join(tmpdir(), "ttai-"));
const hook = fileURLToPath(new URL("../src/testkit/cli/record-modules.js", import.meta.url));
let pid: number | undefined;

function cleanup(): void {
  if (pid !== undefined) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* gone */
    }
  }
  trySh("ip", ["netns", "del", NS]);
  if (!keep) rmSync(dir, { recursive: true, force: true });
}
process.on("exit", cleanup);
process.on("SIGINT", () => process.exit(130));

async function main(): Promise<void> {
  const floor = await nodeFloor();
  console.log(`node_floor ${memLine(floor)} (node -e holding nothing, same run)`);
  sh("ip", ["netns", "add", NS]);
  sh("ip", ["-n", NS, "link", "set", "lo", "up"]);
  sh("ip", ["-n", NS, "link", "add", "up0", "type", "veth", "peer", "name", "up1"]);
  for (const l of ["up0", "up1"]) sh("ip", ["-n", NS, "link", "set", l, "up"]);
  sh("ip", ["-n", NS, "addr", "add", "10.231.0.1/24", "dev", "up0"]);
  mkdirSync(join(dir, "secrets"), { mode: 0o700 });
  const control = join(dir, "node.sock");
  const mods = join(dir, "modules");
  const args = ["netns", "exec", NS, process.execPath, "--import", hook, cli, "node", "run", "--name", "idle1", "--ip", "10.231.0.1/24", "--ip6", "none"];
  args.push("--datastore", `sqlite://${join(dir, "tabby.db")}`, "--control", control, "--secrets-dir", join(dir, "secrets"));
  const child = spawn("ip", args, { stdio: "ignore", env: { ...process.env, TABBY_RECORD_MODULES: mods } });
  pid = child.pid!;
  await sleep(5000);
  console.log(`agent_5s ${memLine(procMemDetail(pid))}`);
  await sleep((IDLE_S - 5) * 1000);
  console.log(`agent_${IDLE_S}s ${memLine(procMemDetail(pid))}`);
  console.log(`agent_${IDLE_S}s_above_node_floor anon_kB=${procMemDetail(pid).anonKb - floor.anonKb}`);
  console.log(`agent_${IDLE_S}s_heap ${await tabbyMemoryLine({ child, pid, control })}`);
  const gone = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await Promise.race([gone, sleep(20_000)]);
  pid = undefined;
  // the modules by unit: src/<unit>/ (or the file), node_modules/<package>, node:<builtin>
  const units = new Map<string, number>();
  for (const u of readFileSync(mods, "utf8").split("\n")) {
    if (!u) continue;
    const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u);
    const src = /\/dist\/src\/([^/]+)/.exec(u);
    const k = pkg ? pkg[1]! : src ? src[1]! : u.startsWith("node:") ? "node:" : u;
    units.set(k, (units.get(k) ?? 0) + 1);
  }
  const list = [...units].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k}=${n}`);
  console.log(`agent_modules total=${[...units.values()].reduce((a, b) => a + b, 0)} ${list.join(" ")}`);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  },
);
