// Interop: `tabby bgp run` as a route reflector for three BIRD 2 clients with ADD-PATH, all on
// the loopback of one fresh network namespace (the layout of bgp-lab/rr with tabby as the RR).
// Checks: reflected routes carry ORIGINATOR_ID and CLUSTER_LIST, and a client that did not
// originate an anycast prefix receives both paths (ADD-PATH send from tabby), so it can do ECMP.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, openSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { queryControl } from "../src/bgp/control.js";
import { sh, waitFor } from "./bird-tabby-pair.js";
import type { PeerStatus } from "../src/bgp/speaker.js";
import { stopByPidFile } from "./helpers.js";

const canRun = process.getuid?.() === 0 && existsSync("/usr/sbin/bird");
const NS = `ttbg${process.pid}r`;
const dir = mkdtempSync(join(tmpdir(), "ttbg-"));
const control = join(dir, "tabby.sock");
const main = new URL("../src/cli/main.js", import.meta.url).pathname;
const CLIENTS = [2, 4, 5];
let tabby: ChildProcess | undefined;

const birdc = (n: number, ...args: string[]) => sh("birdc", ["-s", join(dir, `bird${n}.ctl`), ...args]);

function birdConf(n: number, anycast: boolean): string {
  return `router id 127.0.0.${n};
log "${join(dir, `bird${n}.log`)}" all;
protocol device { }
protocol static { ipv4; ${anycast ? "route 10.99.0.0/24 blackhole;" : ""} route 10.${n}.0.0/24 blackhole; }
protocol bgp to_rr {
  local 127.0.0.${n} port 179 as 64512;
  neighbor 127.0.0.3 port 179 as 64512;
  strict bind yes;
  hold time 9; keepalive time 3; connect retry time 1; connect delay time 1;
  ipv4 { import all; export where source = RTS_STATIC; next hop address 10.255.0.${n}; add paths on; };
}
`;
}

before(() => {
  if (!canRun) return;
  sh("ip", ["netns", "add", NS]);
  sh("ip", ["-n", NS, "link", "set", "lo", "up"]);
});

after(() => {
  if (!canRun) return;
  if (tabby?.pid && tabby.exitCode === null && tabby.signalCode === null) process.kill(tabby.pid, "SIGKILL");
  for (const n of CLIENTS) {
    const pidFile = join(dir, `bird${n}.pid`);
    stopByPidFile(pidFile);
  }
  try {
    sh("ip", ["netns", "del", NS]);
  } catch {
    /* not there */
  }
  rmSync(dir, { recursive: true, force: true });
});

test("tabby route reflector with ADD-PATH for three BIRD clients", { skip: !canRun && "needs root and bird2", timeout: 120000 }, async () => {
  for (const n of CLIENTS) {
    writeFileSync(join(dir, `bird${n}.conf`), birdConf(n, n !== 5));
    sh("ip", ["netns", "exec", NS, "bird", "-c", join(dir, `bird${n}.conf`), "-s", join(dir, `bird${n}.ctl`), "-P", join(dir, `bird${n}.pid`)]);
  }
  writeFileSync(
    join(dir, "tabby.yaml"),
    `routerId: 127.0.0.3
asNumber: 64512
clusterId: 127.0.0.3
listen: { address: 127.0.0.3, port: 179 }
control: ${control}
peers:
${CLIENTS.map((n) => `  - { address: 127.0.0.${n}, asNumber: 64512, localAddress: 127.0.0.3, holdTime: 9, connectRetry: 1, routeReflectorClient: true, families: [ipv4] }`).join("\n")}
`,
  );
  const log = openSync(join(dir, "tabby.log"), "a");
  tabby = spawn("ip", ["netns", "exec", NS, process.execPath, main, "bgp", "run", "-c", join(dir, "tabby.yaml"), "-v"], { stdio: ["ignore", log, log] });
  try {
    await waitFor("all clients established", async () => ((await queryControl(control, { op: "peers" })) as PeerStatus[]).every((p) => p.established));
    // client 5 did not originate 10.99.0.0/24 and gets both paths (ADD-PATH from tabby)
    await waitFor(
      "two paths at client 5",
      () => (birdc(5, "show", "route", "all", "10.99.0.0/24").match(/BGP\.next_hop: 10\.255\.0\.[24]/g) ?? []).length === 2,
    );
    const all = birdc(5, "show", "route", "all", "10.99.0.0/24");
    assert.match(all, /BGP\.next_hop: 10\.255\.0\.2/);
    assert.match(all, /BGP\.next_hop: 10\.255\.0\.4/);
    assert.match(all, /BGP\.originator_id: 127\.0\.0\.2/);
    assert.match(all, /BGP\.originator_id: 127\.0\.0\.4/);
    assert.match(all, /BGP\.cluster_list: 127\.0\.0\.3/);
    // every client has every other client's own prefix, reflected once
    await waitFor("full reflection", () =>
      CLIENTS.every((n) => CLIENTS.every((m) => m === n || birdc(n, "show", "route", `10.${m}.0.0/24`).includes(`10.${m}.0.0/24`))),
    );
    // a client never gets its own route back (split horizon / ORIGINATOR_ID)
    assert.ok(!birdc(2, "show", "route", "protocol", "to_rr").includes("10.2.0.0/24"));
    assert.match(birdc(5, "show", "protocols", "all", "to_rr"), /ADD-PATH\s*\n\s*RX: ipv4\s*\n\s*TX: ipv4/);
    // one anycast origin withdraws: client 5 keeps one path
    writeFileSync(join(dir, "bird4.conf"), birdConf(4, false));
    birdc(4, "configure");
    await waitFor(
      "one path left at client 5",
      () => (birdc(5, "show", "route", "all", "10.99.0.0/24").match(/BGP\.next_hop: 10\.255\.0\.[24]/g) ?? []).length === 1,
    );
    assert.match(birdc(5, "show", "route", "all", "10.99.0.0/24"), /BGP\.next_hop: 10\.255\.0\.2/);
  } catch (err) {
    process.stderr.write(`--- tabby log ---\n${readFileSync(join(dir, "tabby.log"), "utf8").slice(-6000)}\n`);
    for (const n of CLIENTS) {
      try {
        process.stderr.write(`--- bird ${n} ---\n${birdc(n, "show", "protocols", "all", "to_rr")}\n${birdc(n, "show", "route", "all")}\n`);
      } catch (e) {
        process.stderr.write(`birdc ${n}: ${String(e)}\n`);
      }
    }
    throw err;
  }
});
