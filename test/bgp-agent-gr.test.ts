// Graceful restart of the agent (RFC 4724, restarting speaker) with the real kernel: `tabby node
// run --graceful-restart` in one namespace learns a route from a `tabby bgp run` peer (a BGPPeer)
// and installs it (proto 152). The agent stops for a restart (SIGUSR2); while it is away the peer
// stops too and changes what it announces. The agent starts again: it finds its learned route in
// the kernel, so it is restarting, and keeps that route installed although no peer has sent it
// anything (a plain start would remove it at the first reconcile). Once the peer is back and its
// End-of-RIB arrives, route selection is done: the new route is installed and the stale one gone.
// Needs root.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sh, waitFor } from "./bird-tabby-pair.js";
import { deleteNetns } from "./helpers.js";

const canRun = process.getuid?.() === 0;
const TAG = `ttbf${process.pid}`;
const NS_AGENT = `${TAG}n`;
const NS_PEER = `${TAG}p`;
const dir = mkdtempSync(join(tmpdir(), "ttbf-agent-gr-"));
const main = new URL("../src/cli/main.js", import.meta.url).pathname;
const datastore = `sqlite://${join(dir, "tabby.db")}`;
const running: ChildProcess[] = [];

function spawnLogged(ns: string, args: string[], log: string): ChildProcess {
  const fd = openSync(join(dir, log), "a");
  const p = spawn("ip", ["netns", "exec", ns, process.execPath, main, ...args], { stdio: ["ignore", fd, fd] });
  running.push(p);
  return p;
}

const agentArgs = [
  "node",
  "run",
  "--name",
  "h1",
  "--ip",
  "10.95.0.1/24",
  "--ip6",
  "none",
  "--datastore",
  datastore,
  "--control",
  join(dir, "node.sock"),
  "--hold-time",
  "9",
  "--graceful-restart",
];

function peerConf(prefix: string): string {
  return `routerId: 10.95.0.2
asNumber: 64512
listen: { address: "::", port: 179 }
control: ${join(dir, "peer.sock")}
peers:
  - { address: 10.95.0.1, asNumber: 64512, holdTime: 9, connectRetry: 1 }
announce:
  - { prefix: ${prefix} }
`;
}

function startPeer(prefix: string): ChildProcess {
  writeFileSync(join(dir, "peer.yaml"), peerConf(prefix));
  return spawnLogged(NS_PEER, ["bgp", "run", "-c", join(dir, "peer.yaml"), "-v"], "peer.log");
}

const kernelRoutes = () => sh("ip", ["-n", NS_AGENT, "route", "show", "proto", "152"]);
const log = (f: string) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), "utf8") : "");
const stopped = (p: ChildProcess) => new Promise<void>((r) => (p.exitCode !== null || p.signalCode !== null ? r() : p.once("exit", () => r())));

before(() => {
  if (!canRun) return;
  sh("ip", ["netns", "add", NS_AGENT]);
  sh("ip", ["netns", "add", NS_PEER]);
  sh("ip", ["link", "add", `${TAG}v`, "netns", NS_AGENT, "type", "veth", "peer", "name", "eth0", "netns", NS_PEER]);
  sh("ip", ["-n", NS_AGENT, "link", "set", `${TAG}v`, "name", "eth0"]);
  sh("ip", ["-n", NS_AGENT, "addr", "add", "10.95.0.1/24", "dev", "eth0"]);
  sh("ip", ["-n", NS_PEER, "addr", "add", "10.95.0.2/24", "dev", "eth0"]);
  for (const ns of [NS_AGENT, NS_PEER]) {
    sh("ip", ["-n", ns, "link", "set", "lo", "up"]);
    sh("ip", ["-n", ns, "link", "set", "eth0", "up"]);
  }
});

after(() => {
  if (!canRun) return;
  for (const p of running) if (p.pid && p.exitCode === null && p.signalCode === null) process.kill(p.pid, "SIGKILL");
  deleteNetns([NS_AGENT, NS_PEER]);
  rmSync(dir, { recursive: true, force: true });
});

test("agent graceful restart: learned kernel routes stay until the peer's End-of-RIB, then the stale one goes", {
  skip: !canRun && "needs root",
  timeout: 150000,
}, async () => {
  try {
    writeFileSync(
      join(dir, "peer-resource.yaml"),
      "apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: { name: lab-peer }\nspec: { peerIP: 10.95.0.2, asNumber: 64512 }\n",
    );
    let peer = startPeer("10.77.0.0/24");
    let agent = spawnLogged(NS_AGENT, agentArgs, "agent.log");
    await waitFor("agent registered", () => /registered node/.test(log("agent.log")), 60000);
    sh(process.execPath, [main, "apply", "-f", join(dir, "peer-resource.yaml"), "--datastore", datastore]);
    await waitFor("10.77.0.0/24 installed via the peer", () => /10\.77\.0\.0\/24 via 10\.95\.0\.2/.test(kernelRoutes()), 60000);

    // stop for a restart; the peer goes away too and will come back with another route
    process.kill(agent.pid!, "SIGUSR2");
    await stopped(agent);
    process.kill(peer.pid!, "SIGTERM");
    await stopped(peer);
    assert.match(kernelRoutes(), /10\.77\.0\.0\/24 via 10\.95\.0\.2/, "the stop leaves the kernel as it is");

    agent = spawnLogged(NS_AGENT, agentArgs, "agent.log");
    await waitFor("the new agent sees a restart", () => /graceful restart: keeping learned routes/.test(log("agent.log")), 60000);
    await waitFor(
      "the new agent programs the dataplane",
      () => log("agent.log").split("graceful restart: keeping learned routes")[1]?.includes("in sync; programming the dataplane") ?? false,
      60000,
    );
    await new Promise((r) => setTimeout(r, 2000));
    assert.match(kernelRoutes(), /10\.77\.0\.0\/24 via 10\.95\.0\.2/, "kept while selection is deferred");

    peer = startPeer("10.78.0.0/24");
    await waitFor(
      "10.78.0.0/24 installed and the stale 10.77.0.0/24 removed",
      () => {
        const r = kernelRoutes();
        return /10\.78\.0\.0\/24 via 10\.95\.0\.2/.test(r) && !/10\.77\.0\.0/.test(r);
      },
      60000,
    );
    assert.match(log("agent.log"), /route selection done after restart.*End-of-RIB received from every peer/);
  } catch (err) {
    process.stderr.write(`--- agent log ---\n${log("agent.log").slice(-5000)}\n--- peer log ---\n${log("peer.log").slice(-3000)}\n`);
    throw err;
  }
});
