/**
 * Issue #16, "policy before the first packet", against the real kernel: `tabby node run` in a host
 * namespace programs nftables from a SQLite datastore; the `tabby` CNI plugin (the real executable)
 * adds workloads with labels from `args.cni.labels`. A default-deny ingress policy plus an allow
 * by label: the first SYN of a new `role=web` workload, sent the moment ADD returns, reaches the
 * `role=db` server (the client's kernel sent exactly one SYN: none was dropped and retransmitted),
 * and nothing else does (another port; a workload without the label, whose first SYN never
 * reaches the server). ADD returns only once the agent's endpoint status names the workload.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hostWithUplink } from "./cni-libcni.js";
import { waitFor } from "./bird-tabby-pair.js";
import { spawnAgentInNetns } from "../src/testkit/agent/spawn-agent.js";

const canRun = process.getuid?.() === 0;
const P = `ttfp${process.pid}`;
const HOST = `${P}h`;
const UP = `${P}u`;
const NS = { db: `${P}db`, web: `${P}web`, other: `${P}oth` };
const dir = mkdtempSync(join(tmpdir(), "tabby-first-packet-"));
const main = new URL("../src/cli/main.js", import.meta.url).pathname;
const datastore = `sqlite://${join(dir, "tabby.db")}`;
const statusDir = join(dir, "endpoint-status");
const running: ChildProcess[] = [];
const sh = (cmd: string, args: string[], input?: string) =>
  execFileSync(cmd, args, { encoding: "utf8", stdio: ["pipe", "pipe", "pipe"], ...(input !== undefined ? { input } : {}) });
const inNs = (ns: string, ...args: string[]) => sh("ip", ["netns", "exec", ns, ...args]);
const log = () => (existsSync(join(dir, "agent.log")) ? readFileSync(join(dir, "agent.log"), "utf8") : "");

before(() => {
  if (!canRun) return;
  for (const ns of [HOST, UP, ...Object.values(NS)]) sh("ip", ["netns", "add", ns]);
  hostWithUplink(HOST, UP, "192.168.251", "fd11");
});

after(() => {
  if (!canRun) return;
  for (const p of running) if (p.pid && p.exitCode === null && p.signalCode === null) process.kill(p.pid, "SIGKILL");
  for (const ns of [...Object.values(NS), UP, HOST]) spawnSync("ip", ["netns", "del", ns]);
  rmSync(dir, { recursive: true, force: true });
});

const tabby = (...args: string[]) => sh(process.execPath, [main, ...args, "--datastore", datastore]);

function cniAdd(ns: string, id: string, labels: Record<string, string>): string {
  const conf = {
    cniVersion: "1.0.0",
    name: "tabby",
    type: "tabby",
    datastore,
    nodename: "h1",
    endpoint_status_dir: statusDir,
    ipam: { type: "tabby-ipam", assign_ipv6: false },
    args: { cni: { labels: Object.entries(labels).map(([key, value]) => ({ key, value })) } },
  };
  const r = spawnSync("ip", ["netns", "exec", HOST, process.execPath, main], {
    input: JSON.stringify(conf),
    encoding: "utf8",
    env: {
      PATH: process.env.PATH,
      CNI_COMMAND: "ADD",
      CNI_CONTAINERID: id,
      CNI_NETNS: `/var/run/netns/${ns}`,
      CNI_IFNAME: "eth0",
      CNI_ARGS: `K8S_POD_NAMESPACE=shop;K8S_POD_NAME=${id}`,
      CNI_PATH: "/nonexistent",
    },
  });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  return (JSON.parse(r.stdout) as { ips: { address: string }[] }).ips[0]!.address.split("/")[0]!;
}

/** Connects from `ns` once, giving up after 2.5 s: "connected", "timeout" or the error code. */
function connect(ns: string, addr: string, port: number): string {
  const js = `const s=require("net").connect({host:${JSON.stringify(addr)},port:${port}});s.setTimeout(2500,()=>{console.log("timeout");process.exit(0)});s.on("connect",()=>{console.log("connected");process.exit(0)});s.on("error",(e)=>{console.log(e.code);process.exit(0)});`;
  return inNs(ns, process.execPath, "-e", js).trim();
}

/** A counter of TCP SYNs (without ACK) in `ns`'s output or input hook, optionally from one source. */
function addSynCounter(ns: string, hook: "output" | "input", from?: string): () => number {
  sh(
    "ip",
    ["netns", "exec", ns, "nft", "-f", "-"],
    `table inet ttfp {\n chain ${hook} {\n type filter hook ${hook} priority 0;\n ${from ? `ip saddr ${from} ` : ""}tcp flags & (syn | ack) == syn counter\n }\n}\n`,
  );
  return () => Number(/packets (\d+)/.exec(inNs(ns, "nft", "list", "chain", "inet", "ttfp", hook))?.[1] ?? "NaN");
}

const POLICY = `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: default-deny, namespace: shop }
spec: { selector: all(), types: [Ingress] }
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: web-to-db, namespace: shop }
spec:
  selector: role == 'db'
  types: [Ingress]
  ingress: [{ action: Allow, protocol: TCP, source: { selector: role == 'web' }, destination: { ports: [8080] } }]
`;

test("default-deny plus an allow by label: a new workload's first SYN passes, nothing else does", {
  skip: !canRun && "needs root",
  timeout: 120000,
}, async () => {
  const agent = spawnAgentInNetns({ netns: HOST, name: "h1", ip: "192.168.251.1/24", ipv4Pool: "10.68.0.0/16", datastore, dir, statusDir });

  running.push(agent);
  try {
    // The status directory appears with the agent's first programmed table.
    await waitFor("the agent's endpoint status", () => existsSync(statusDir), 60000);
    writeFileSync(join(dir, "policy.yaml"), POLICY);
    tabby("apply", "-f", join(dir, "policy.yaml"));

    const db = cniAdd(NS.db, "db1", { role: "db" });
    assert.deepEqual(readdirSync(statusDir).filter((f) => !f.startsWith(".")).length, 1, "ADD returned after the agent published the endpoint");
    for (const port of [8080, 9090]) {
      const srv = spawn("ip", ["netns", "exec", NS.db, process.execPath, "-e", `require("net").createServer((s)=>s.end()).listen(${port},"0.0.0.0")`], {
        stdio: "ignore",
      });
      running.push(srv);
    }
    await waitFor("the servers listen", () => /:8080\b/.test(inNs(NS.db, "ss", "-ltn")) && /:9090\b/.test(inNs(NS.db, "ss", "-ltn")), 20000);

    // A role=web workload: its first SYN, sent as soon as ADD returns, gets through.
    const webSyns = addSynCounter(NS.web, "output");
    cniAdd(NS.web, "web1", { role: "web" });
    assert.equal(connect(NS.web, db, 8080), "connected", log().slice(-3000));
    assert.equal(webSyns(), 1, "exactly one SYN was sent: the first was not dropped");
    // …and nothing else: another port of the server is not allowed.
    assert.equal(connect(NS.web, db, 9090), "timeout");

    // Without the allow (no role=web), the first packet is dropped: no window of allow-all.
    const dbSyns = addSynCounter(NS.db, "input", "10.68.0.0/16");
    const before = dbSyns();
    cniAdd(NS.other, "other1", { role: "other" });
    assert.equal(connect(NS.other, db, 8080), "timeout");
    assert.equal(dbSyns(), before, "no SYN from the unlabelled workload reached the server");

    // The endpoint carries the labels from ADD.
    const weps = tabby("get", "workloadendpoints", "-n", "shop", "-o", "json");
    assert.match(weps, /"role": ?"web"/);
  } finally {
    agent.kill("SIGTERM");
  }
});
