// The agent's route policy with the real kernel and real peers: `tabby node run` (h1, AS 64512)
// in one namespace, dual-homed over eBGP to two "ToRs" in their own namespaces — BIRD 2 (AS
// 65001) and `tabby bgp run` (AS 65002) — each announcing a prefix of its own. The agent installs
// both learned prefixes in its kernel and announces its own block to both ToRs, but never
// passes one ToR's route to the other (no transit). Then a BGPFilter on the second ToR's BGPPeer
// rejects that ToR's prefix on import, and the route leaves the kernel. Needs root and BIRD.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sh, waitFor } from "./bird-tabby-pair.js";
import { queryControl } from "../src/bgp/control.js";
import type { RouteView } from "../src/bgp/speaker.js";
import { openStore } from "../src/datastore/open.js";
import { stopByPidFile, deleteNetns } from "./helpers.js";

const canRun = process.getuid?.() === 0 && existsSync("/usr/sbin/bird");
const TAG = `ttbp${process.pid}`;
const NS = { h1: `${TAG}h`, t1: `${TAG}a`, t2: `${TAG}b` };
const dir = mkdtempSync(join(tmpdir(), "ttbp-agent-policy-"));
const main = new URL("../src/cli/main.js", import.meta.url).pathname;
const datastore = `sqlite://${join(dir, "tabby.db")}`;
const birdSock = join(dir, "bird.ctl");
const birdPid = join(dir, "bird.pid");
const t2Control = join(dir, "t2.sock");
const running: ChildProcess[] = [];

function spawnLogged(ns: string, args: string[], log: string): ChildProcess {
  const fd = openSync(join(dir, log), "a");
  const p = spawn("ip", ["netns", "exec", ns, process.execPath, main, ...args], { stdio: ["ignore", fd, fd] });
  running.push(p);
  return p;
}
const log = (f: string) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), "utf8") : "");
const kernelRoutes = () => sh("ip", ["-n", NS.h1, "route", "show", "proto", "152"]);
const birdRoutes = () => sh("birdc", ["-s", birdSock, "show", "route"]);
const t2Routes = async () => ((await queryControl(t2Control, { op: "routes", family: "ipv4" })) as RouteView[]).map((r) => r.prefix);
const tabby = (...args: string[]) => sh(process.execPath, [main, ...args, "--datastore", datastore]);

before(() => {
  if (!canRun) return;
  for (const ns of Object.values(NS)) sh("ip", ["netns", "add", ns]);
  // h1 eth1 10.95.1.1 — t1 eth0 10.95.1.2; h1 eth2 10.95.2.1 — t2 eth0 10.95.2.2
  for (const [i, tor] of [
    [1, NS.t1],
    [2, NS.t2],
  ] as const) {
    sh("ip", ["link", "add", `${TAG}${i}`, "netns", NS.h1, "type", "veth", "peer", "name", "eth0", "netns", tor]);
    sh("ip", ["-n", NS.h1, "link", "set", `${TAG}${i}`, "name", `eth${i}`]);
    sh("ip", ["-n", NS.h1, "addr", "add", `10.95.${i}.1/24`, "dev", `eth${i}`]);
    sh("ip", ["-n", tor, "addr", "add", `10.95.${i}.2/24`, "dev", "eth0"]);
    sh("ip", ["-n", NS.h1, "link", "set", `eth${i}`, "up"]);
    sh("ip", ["-n", tor, "link", "set", "eth0", "up"]);
    sh("ip", ["-n", tor, "link", "set", "lo", "up"]);
  }
  sh("ip", ["-n", NS.h1, "link", "set", "lo", "up"]);
  // the agent's sessions come from its node address 10.95.1.1; t2 reaches it through h1
  sh("ip", ["-n", NS.t2, "route", "add", "10.95.1.1/32", "via", "10.95.2.1"]);
});

after(() => {
  if (!canRun) return;
  for (const p of running) if (p.pid && p.exitCode === null && p.signalCode === null) process.kill(p.pid, "SIGKILL");
  stopByPidFile(birdPid);
  deleteNetns(Object.values(NS));
  rmSync(dir, { recursive: true, force: true });
});

const BIRD_CONF = `router id 10.95.1.2;
protocol device {}
protocol static tor_routes { ipv4; route 10.81.0.0/24 blackhole; }
protocol bgp h1 {
  local 10.95.1.2 as 65001;
  neighbor 10.95.1.1 as 64512;
  hold time 9;
  connect retry time 1;
  ipv4 { import all; export all; };
}
`;

const T2_CONF = `routerId: 10.95.2.2
asNumber: 65002
listen: { address: 10.95.2.2, port: 179 }
control: ${t2Control}
peers:
  - { address: 10.95.1.1, asNumber: 64512, holdTime: 9, connectRetry: 1, import: [{ action: accept }], export: [{ action: accept }] }
announce:
  - { prefix: 10.82.0.0/24 }
`;

const RESOURCES = (t2Filters: string) => `apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: { name: tor-a }
spec: { node: h1, peerIP: 10.95.1.2, asNumber: 65001 }
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: { name: tor-b }
spec: { node: h1, peerIP: 10.95.2.2, asNumber: 65002${t2Filters} }
`;

test("a dual-homed host is never a transit between its ToRs, and a BGPFilter keeps a prefix out of the kernel", {
  skip: !canRun && "needs root and BIRD",
  timeout: 180000,
}, async () => {
  try {
    writeFileSync(
      join(dir, "bgpconfig.yaml"),
      "apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata: { name: default }\nspec: { nodeToNodeMeshEnabled: false, asNumber: 64512 }\n",
    );
    tabby("apply", "-f", join(dir, "bgpconfig.yaml"));
    writeFileSync(join(dir, "bird.conf"), BIRD_CONF);
    sh("ip", ["netns", "exec", NS.t1, "bird", "-c", join(dir, "bird.conf"), "-s", birdSock, "-P", birdPid]);
    writeFileSync(join(dir, "t2.yaml"), T2_CONF);
    spawnLogged(NS.t2, ["bgp", "run", "-c", join(dir, "t2.yaml"), "-v"], "t2.log");
    spawnLogged(
      NS.h1,
      [
        "node",
        "run",
        "--name",
        "h1",
        "--ip",
        "10.95.1.1/24",
        "--ip6",
        "none",
        "--ipv4-pool",
        "10.65.0.0/16",
        "--datastore",
        datastore,
        "--control",
        join(dir, "node.sock"),
        "--hold-time",
        "9",
        "--ipam-gc-grace",
        "off",
      ],
      "agent.log",
    );
    await waitFor("agent registered", () => /registered node/.test(log("agent.log")), 60000);
    writeFileSync(join(dir, "peers.yaml"), RESOURCES(""));
    tabby("apply", "-f", join(dir, "peers.yaml"));
    const store = await openStore(datastore);
    try {
      await store.put("/calico/ipam/v2/host/h1/ipv4/block/10.65.0.0-26", JSON.stringify({ state: "confirmed", deleted: false }));

      // both ToRs' routes reach h1's kernel; h1's block reaches both ToRs
      await waitFor(
        "both ToR prefixes in h1's kernel",
        () => /10\.81\.0\.0\/24 via 10\.95\.1\.2/.test(kernelRoutes()) && /10\.82\.0\.0\/24 via 10\.95\.2\.2/.test(kernelRoutes()),
        90000,
      );
      await waitFor("h1's block at both ToRs", async () => /10\.65\.0\.0\/26/.test(birdRoutes()) && (await t2Routes()).includes("10.65.0.0/26"), 60000);

      // h1 learned each ToR's prefix before it originates this second block; a session's UPDATEs
      // arrive in order, so once the block is at a ToR any transit route would be there too
      await store.put("/calico/ipam/v2/host/h1/ipv4/block/10.65.0.64-26", JSON.stringify({ state: "confirmed", deleted: false }));
      await waitFor("the second block at both ToRs", async () => /10\.65\.0\.64\/26/.test(birdRoutes()) && (await t2Routes()).includes("10.65.0.64/26"), 60000);
      assert.doesNotMatch(birdRoutes(), /10\.82\.0\.0/, "BIRD never got tor-b's prefix from h1");
      assert.ok(!(await t2Routes()).includes("10.81.0.0/24"), "tor-b never got BIRD's prefix from h1");

      // a BGPFilter on tor-b rejects its prefix on import: out of h1's kernel, the other stays
      writeFileSync(
        join(dir, "filter.yaml"),
        "apiVersion: projectcalico.org/v3\nkind: BGPFilter\nmetadata: { name: no-82 }\nspec:\n  importV4:\n    - { action: Reject, matchOperator: In, cidr: 10.82.0.0/16 }\n---\n" +
          RESOURCES(", filters: [no-82]"),
      );
      tabby("apply", "-f", join(dir, "filter.yaml"));
      await waitFor("10.82.0.0/24 gone from h1's kernel", () => !/10\.82\.0\.0/.test(kernelRoutes()), 60000);
      assert.match(kernelRoutes(), /10\.81\.0\.0\/24 via 10\.95\.1\.2/);
    } finally {
      await store.close();
    }
  } catch (err) {
    process.stderr.write(`--- agent log ---\n${log("agent.log").slice(-6000)}\n--- t2 log ---\n${log("t2.log").slice(-3000)}\n`);
    throw err;
  }
});
