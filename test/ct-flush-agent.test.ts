/**
 * The agent's conntrack cleanup end to end: `tabby node run` in a host namespace (SQLite
 * datastore), two workloads added by the real `tabby` CNI plugin, a TCP connection from one to
 * the other held open; the server workload removed by CNI DEL (its veth, its address released,
 * its WorkloadEndpoint deleted). The agent deletes the released address's conntrack entries
 * (its log says so, by the kernel's filter) and the host's table, read back through a dump, no
 * longer has the connection; the client's other connection, to the host's uplink side, is kept.
 * Run as root: node --test dist/test/ct-flush-agent.test.js
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { hostWithUplink } from "./cni-libcni.js";
import { waitFor } from "./bird-tabby-pair.js";
import { ConntrackFlusher } from "../src/flows/ct-flush.js";
import { spawnAgentInNetns } from "../src/testkit/agent/spawn-agent.js";

const canRun = process.getuid?.() === 0;
const P = `ttca${process.pid}`;
const HOST = `${P}h`;
const UP = `${P}u`;
const NS = { srv: `${P}srv`, cli: `${P}cli` };
const dir = mkdtempSync(join(tmpdir(), "tabby-ct-flush-"));
const main = new URL("../src/cli/main.js", import.meta.url).pathname;
const TOOL = fileURLToPath(new URL("./nft-netns.js", import.meta.url));
const datastore = `sqlite://${join(dir, "tabby.db")}`;
const statusDir = join(dir, "endpoint-status");
const running: ChildProcess[] = [];
const sh = (cmd: string, args: string[], input?: string) =>
  execFileSync(cmd, args, { encoding: "utf8", stdio: ["pipe", "pipe", "pipe"], ...(input !== undefined ? { input } : {}) });
const log = () => (existsSync(join(dir, "agent.log")) ? readFileSync(join(dir, "agent.log"), "utf8") : "");
let table: ConntrackFlusher | undefined;

before(() => {
  if (!canRun) return;
  for (const ns of [HOST, UP, ...Object.values(NS)]) sh("ip", ["netns", "add", ns]);
  hostWithUplink(HOST, UP, "192.168.249", "fd12");
});

after(() => {
  if (!canRun) return;
  table?.close();
  for (const p of running) if (p.pid && p.exitCode === null && p.signalCode === null) process.kill(p.pid, "SIGKILL");
  for (const ns of [...Object.values(NS), UP, HOST]) spawnSync("ip", ["netns", "del", ns]);
  rmSync(dir, { recursive: true, force: true });
});

const tabby = (...args: string[]) => sh(process.execPath, [main, ...args, "--datastore", datastore]);

function cni(command: "ADD" | "DEL", ns: string, id: string): string {
  const conf = {
    cniVersion: "1.0.0",
    name: "tabby",
    type: "tabby",
    datastore,
    nodename: "h1",
    endpoint_status_dir: statusDir,
    ipam: { type: "tabby-ipam", assign_ipv6: false },
  };
  const r = spawnSync("ip", ["netns", "exec", HOST, process.execPath, main], {
    input: JSON.stringify(conf),
    encoding: "utf8",
    env: {
      PATH: process.env.PATH,
      CNI_COMMAND: command,
      CNI_CONTAINERID: id,
      CNI_NETNS: `/var/run/netns/${ns}`,
      CNI_IFNAME: "eth0",
      CNI_ARGS: `K8S_POD_NAMESPACE=shop;K8S_POD_NAME=${id}`,
      CNI_PATH: "/nonexistent",
    },
  });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  return command === "ADD" ? (JSON.parse(r.stdout) as { ips: { address: string }[] }).ips[0]!.address.split("/")[0]! : "";
}

/** `TOOL hold` from `ns`: resolves once it prints CONNECTED. */
async function hold(ns: string, host: string, port: number): Promise<ChildProcess> {
  const p = spawn("ip", ["netns", "exec", ns, process.execPath, TOOL, "hold", host, String(port)], { stdio: ["pipe", "pipe", "inherit"] });
  running.push(p);
  const lines = createInterface({ input: p.stdout! });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no connection to ${host}:${port}`)), 5000);
    lines.on("line", (l) => {
      if (l === "CONNECTED") {
        clearTimeout(t);
        resolve();
      }
    });
  });
  return p;
}

const ALLOW = `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: allow-all, namespace: shop }
spec: { selector: all(), types: [Ingress, Egress], ingress: [{ action: Allow }], egress: [{ action: Allow }] }
`;

test("the agent deletes a removed workload's conntrack entries", { skip: !canRun && "needs root", timeout: 120000 }, async () => {
  const agent = spawnAgentInNetns({ netns: HOST, name: "h1", ip: "192.168.249.1/24", ipv4Pool: "10.69.0.0/16", datastore, dir, statusDir });

  running.push(agent);
  try {
    await waitFor("the agent's endpoint status", () => existsSync(statusDir), 60000);
    writeFileSync(join(dir, "policy.yaml"), ALLOW);
    tabby("apply", "-f", join(dir, "policy.yaml"));
    const srvAddr = cni("ADD", NS.srv, "srv1");
    cni("ADD", NS.cli, "cli1");
    const srv = spawn("ip", ["netns", "exec", NS.srv, process.execPath, TOOL, "serve", "80"], { stdio: ["ignore", "pipe", "inherit"] });
    running.push(srv);
    await new Promise<void>((resolve) => createInterface({ input: srv.stdout! }).once("line", () => resolve()));
    // the uplink's side answers too: a connection through the host that stays
    const up = spawn("ip", ["netns", "exec", UP, process.execPath, TOOL, "serve", "80"], { stdio: ["ignore", "pipe", "inherit"] });
    running.push(up);
    await new Promise<void>((resolve) => createInterface({ input: up.stdout! }).once("line", () => resolve()));
    await hold(NS.cli, srvAddr, 80);
    await hold(NS.cli, "192.168.249.2", 80);

    table = await ConntrackFlusher.open({ netns: `/run/netns/${HOST}` });
    const before = table.dump().filter((e) => e.protocol === 6 && e.dstPort === 80);
    const toSrv = before.find((e) => e.dst === srvAddr);
    const toUp = before.find((e) => e.dst === "192.168.249.2");
    assert.ok(toSrv && toUp, JSON.stringify(before));

    cni("DEL", NS.srv, "srv1");
    await waitFor(
      "the agent's conntrack deletion",
      () => log().includes("deleted the conntrack entries of released workload addresses") && log().includes(srvAddr),
      30000,
    );
    const line = log()
      .split("\n")
      .find((l) => l.includes("deleted the conntrack entries"))!;
    assert.equal((JSON.parse(line) as { method?: string }).method, "filter", line);
    const ids = new Set(table.dump().map((e) => e.id));
    assert.ok(!ids.has(toSrv.id), "the removed workload's connection is gone from conntrack");
    assert.ok(ids.has(toUp.id), "the client's other connection is kept");
  } finally {
    agent.kill("SIGTERM");
  }
});
