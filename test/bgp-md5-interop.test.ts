// Interop for TCP-MD5 (RFC 2385): BIRD 2 (10.98.0.1 and .3) and `tabby bgp run` (10.98.0.2 and
// .4) in two namespaces. The session 10.98.0.1–.2 has the same password on both sides and
// establishes (whichever side connects: tabby signs its SYN and its listener knows BIRD's key);
// the session 10.98.0.3–.4 has different passwords and never does. Needs root, bird2, koffi.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, openSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { queryControl } from "../src/bgp/control.js";
import type { PeerStatus, RouteView } from "../src/bgp/speaker.js";

const canRun = process.getuid?.() === 0 && existsSync("/usr/sbin/bird");
const NS_BIRD = `ttb2m${process.pid}a`;
const NS_TABBY = `ttb2m${process.pid}b`;
const VETH = `ttb2m${process.pid}x`;
const dir = mkdtempSync(join(tmpdir(), "ttb2m-"));
const birdSock = join(dir, "bird.ctl");
const birdPid = join(dir, "bird.pid");
const control = join(dir, "tabby.sock");
const main = new URL("../src/cli/main.js", import.meta.url).pathname;
let tabby: ChildProcess | undefined;

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}
const birdc = (...args: string[]) => sh("birdc", ["-s", birdSock, ...args]);

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, ms = 30000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      if (await cond()) return;
    } catch {
      /* not yet */
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const BIRD_CONF = `router id 10.98.0.1;
log "${join(dir, "bird.log")}" all;
protocol device { scan time 1; }
protocol static s4 { ipv4; route 10.10.0.0/24 blackhole; }
protocol bgp good {
  local 10.98.0.1 as 65001; neighbor 10.98.0.2 as 65002; password "s3cret-key";
  hold time 9; connect retry time 1; connect delay time 1; error wait time 1, 5;
  ipv4 { import all; export where proto = "s4"; };
}
protocol bgp bad {
  local 10.98.0.3 as 65001; neighbor 10.98.0.4 as 65002; password "bird-key";
  hold time 9; connect retry time 1; connect delay time 1; error wait time 1, 5;
  ipv4 { import all; export where proto = "s4"; };
}
`;

const TABBY_CONF = `routerId: 10.98.0.2
asNumber: 65002
listen: { address: "::", port: 179 }
control: ${control}
peers:
  - { address: 10.98.0.1, asNumber: 65001, holdTime: 9, connectRetry: 1, families: [ipv4], password: "s3cret-key", import: [{ action: accept }] }
  - { address: 10.98.0.3, asNumber: 65001, holdTime: 9, connectRetry: 1, families: [ipv4], password: "tabby-key", localAddress: 10.98.0.4, import: [{ action: accept }] }
`;

before(() => {
  if (!canRun) return;
  sh("ip", ["netns", "add", NS_BIRD]);
  sh("ip", ["netns", "add", NS_TABBY]);
  sh("ip", ["link", "add", VETH, "netns", NS_BIRD, "type", "veth", "peer", "name", "eth0", "netns", NS_TABBY]);
  sh("ip", ["-n", NS_BIRD, "link", "set", VETH, "name", "eth0"]);
  sh("ip", ["-n", NS_BIRD, "addr", "add", "10.98.0.1/24", "dev", "eth0"]);
  sh("ip", ["-n", NS_BIRD, "addr", "add", "10.98.0.3/24", "dev", "eth0"]);
  sh("ip", ["-n", NS_TABBY, "addr", "add", "10.98.0.2/24", "dev", "eth0"]);
  sh("ip", ["-n", NS_TABBY, "addr", "add", "10.98.0.4/24", "dev", "eth0"]);
  for (const ns of [NS_BIRD, NS_TABBY]) {
    sh("ip", ["-n", ns, "link", "set", "lo", "up"]);
    sh("ip", ["-n", ns, "link", "set", "eth0", "up"]);
  }
});

after(() => {
  if (!canRun) return;
  if (tabby?.pid && tabby.exitCode === null) process.kill(tabby.pid, "SIGKILL");
  if (existsSync(birdPid)) {
    try {
      process.kill(Number(readFileSync(birdPid, "utf8").trim()), "SIGTERM");
    } catch {
      /* gone */
    }
  }
  for (const ns of [NS_BIRD, NS_TABBY]) {
    try {
      sh("ip", ["netns", "del", ns]);
    } catch {
      /* not there */
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

test("TCP-MD5 with BIRD 2: matching keys establish, mismatching keys do not", { skip: !canRun && "needs root and bird2", timeout: 120000 }, async () => {
  writeFileSync(join(dir, "bird.conf"), BIRD_CONF);
  sh("ip", ["netns", "exec", NS_BIRD, "bird", "-c", join(dir, "bird.conf"), "-s", birdSock, "-P", birdPid]);
  writeFileSync(join(dir, "tabby.yaml"), TABBY_CONF);
  const logFd = openSync(join(dir, "tabby.log"), "a");
  tabby = spawn("ip", ["netns", "exec", NS_TABBY, process.execPath, main, "bgp", "run", "-c", join(dir, "tabby.yaml"), "-v"], { stdio: ["ignore", logFd, logFd] });
  try {
    const peers = async () => (await queryControl(control, { op: "peers" })) as PeerStatus[];
    const routes = async () => (await queryControl(control, { op: "routes", family: "ipv4" })) as RouteView[];
    await waitFor("the session with matching keys established", async () => (await peers()).find((p) => p.address === "10.98.0.1")?.established === true);
    await waitFor("BIRD's route over the signed session", async () => (await routes()).some((r) => r.prefix === "10.10.0.0/24"));
    assert.match(birdc("show", "protocols", "good"), /Established/);
    // several connect retries on both sides, none may get through
    await new Promise((r) => setTimeout(r, 8000));
    assert.equal((await peers()).find((p) => p.address === "10.98.0.3")!.established, false);
    assert.doesNotMatch(birdc("show", "protocols", "bad"), /Established/);
    // the TCP handshake itself fails: segments with a wrong signature are dropped by the kernel
    const bad = (await peers()).find((p) => p.address === "10.98.0.3")!;
    assert.ok(!["OpenSent", "OpenConfirm", "Established"].includes(bad.state), bad.state);
  } catch (err) {
    process.stderr.write(`--- tabby log ---\n${readFileSync(join(dir, "tabby.log"), "utf8").slice(-4000)}\n`);
    throw err;
  }
});
