/**
 * `tabby docker-plugin` against the real kernel, driven by a scripted libnetwork client that makes
 * the calls dockerd 20.10 makes for `docker network create -d tabby --ipam-driver tabby` and
 * `docker run --network NET --label role=web` / `docker rm` (libnetwork's remote driver and IPAM
 * driver API), and does what dockerd does with the answers (moves the interface into the
 * container, renames it, sets the addresses, the static routes and the gateways). A fake engine
 * API answers the plugin's questions about the container's and the network's labels. dockerd
 * itself does not start on this machine (docs/docker.md says why); the calls are the documented
 * ones. `tabby node run` programs the policy in the same host namespace.
 * Shown: the container gets a tabby address per family and reaches the uplink over both; its
 * endpoint carries the container's labels and the network's profile (which lets the uplink not
 * in); a policy selecting the container's label blocks it; removal leaves no address, endpoint,
 * profile or interface (`tabby ipam check` clean); an unimplemented option is refused by name.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createServer, request, type Server } from "node:http";
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hostWithUplink } from "./cni-libcni.js";
import { waitFor } from "./bird-tabby-pair.js";
import { spawnAgentInNetns } from "../src/testkit/agent/spawn-agent.js";

const canRun = process.getuid?.() === 0;
const P = `ttdk${process.pid}`;
const HOST = `${P}h`;
const UP = `${P}u`;
const C1 = `${P}c1`;
const dir = mkdtempSync(join(tmpdir(), "tabby-docker-plugin-"));
const main = new URL("../src/cli/main.js", import.meta.url).pathname;
const datastore = `sqlite://${join(dir, "tabby.db")}`;
const pluginDir = join(dir, "plugins");
const pluginSock = join(pluginDir, "tabby.sock");
const engineSock = join(dir, "docker.sock");
const statusDir = join(dir, "endpoint-status");
const running: ChildProcess[] = [];
let engine: Server | undefined;
const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
const inNs = (ns: string, ...args: string[]) => sh("ip", ["netns", "exec", ns, ...args]);
const tabby = (...args: string[]) => spawnSync(process.execPath, [main, ...args, "--datastore", datastore], { encoding: "utf8" });
const logs = () =>
  ["agent.log", "plugin.log"].map((f) => (existsSync(join(dir, f)) ? `--- ${f}\n${readFileSync(join(dir, f), "utf8").slice(-2500)}` : "")).join("\n");

before(() => {
  if (!canRun) return;
  for (const ns of [HOST, UP, C1]) sh("ip", ["netns", "add", ns]);
  hostWithUplink(HOST, UP, "192.168.252", "fd12");
  sh("ip", ["-n", UP, "route", "add", "10.69.0.0/16", "via", "192.168.252.1"]);
  sh("ip", ["-n", UP, "-6", "route", "add", "fd69::/48", "via", "fd12::1"]);
});

after(() => {
  if (!canRun) return;
  for (const p of running) if (p.pid && p.exitCode === null && p.signalCode === null) process.kill(p.pid, "SIGKILL");
  engine?.close();
  for (const ns of [C1, UP, HOST]) spawnSync("ip", ["netns", "del", ns]);
  rmSync(dir, { recursive: true, force: true });
});

/** One plugin call as dockerd makes it: POST, JSON both ways. */
function call(path: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = request(
      {
        socketPath: pluginSock,
        path,
        method: "POST",
        agent: false,
        headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(data) },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (text += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
      },
    );
    req.on("error", reject);
    req.end(data);
  });
}
async function ok(path: string, body: unknown): Promise<Record<string, unknown>> {
  const r = await call(path, body);
  assert.equal(r.status, 200, `${path}: ${JSON.stringify(r.body)}\n${logs()}`);
  return r.body;
}

/** The engine API as far as the plugin asks: the container appears once "dockerd" records the join. */
const NET_ID = "4f1c0c3a2b1d".padEnd(64, "0");
const EP_ID = "9e8d7c6b5a49".padEnd(64, "1");
let containers: unknown[] = [];
function startEngine(): Promise<void> {
  engine = createServer((req, res) => {
    const url = req.url ?? "";
    let out: unknown = { message: "no such thing" };
    let status = 404;
    if (url.startsWith("/v1.41/containers/json")) [status, out] = [200, containers];
    else if (url === `/v1.41/networks/${NET_ID}`) [status, out] = [200, { Name: "shop", Id: NET_ID, Labels: { tier: "front" } }];
    res.writeHead(status, { "Content-Type": "application/json" });
    res.end(JSON.stringify(out));
  });
  return new Promise((r) => engine!.listen(engineSock, r));
}

const pings = (ns: string, addr: string) => {
  for (let i = 0; i < 5; i++) if (spawnSync("ip", ["netns", "exec", ns, "ping", "-c", "1", "-W", "1", addr]).status === 0) return true;
  return false;
};

test("docker network and IPAM driver: a container gets addresses, labels, a profile and policy; removal leaves nothing", {
  skip: !canRun && "needs root",
  timeout: 180000,
}, async () => {
  await startEngine();
  running.push(
    spawnAgentInNetns({
      netns: HOST,
      name: "h1",
      ip: "192.168.252.1/24",
      ip6: "fd12::1/64",
      ipv4Pool: "10.69.0.0/16",
      ipv6Pool: "fd69::/48",
      datastore,
      dir,
      statusDir,
    }),
  );
  await waitFor("the agent's endpoint status", () => existsSync(statusDir), 60000);
  const pluginLog = openSync(join(dir, "plugin.log"), "a");
  running.push(
    spawn(
      "ip",
      [
        "netns",
        "exec",
        HOST,
        process.execPath,
        main,
        "docker-plugin",
        "--plugin-dir",
        pluginDir,
        "--nodename",
        "h1",
        "--datastore",
        datastore,
        "--docker-host",
        `unix://${engineSock}`,
        "--endpoint-status-dir",
        statusDir,
        "--label-drop",
        "com.example.",
        "--log-level",
        "debug",
      ],
      {
        stdio: ["ignore", pluginLog, pluginLog],
        env: { ...process.env, TABBY_IPAM_LOCK: join(dir, "ipam.lock") },
      },
    ),
  );
  await waitFor("the plugin's socket", () => existsSync(pluginSock), 30000);

  // Discovery and `docker network create -d tabby --ipam-driver tabby shop`.
  assert.deepEqual(await ok("/Plugin.Activate", {}), { Implements: ["NetworkDriver", "IpamDriver"] });
  assert.deepEqual(await ok("/NetworkDriver.GetCapabilities", {}), { Scope: "local", ConnectivityScope: "global" });
  assert.deepEqual(await ok("/IpamDriver.GetCapabilities", {}), { RequiresMACAddress: false, RequiresRequestReplay: false });
  const spaces = await ok("/IpamDriver.GetDefaultAddressSpaces", {});
  const p4 = await ok("/IpamDriver.RequestPool", { AddressSpace: spaces.LocalDefaultAddressSpace, Pool: "", SubPool: "", Options: {}, V6: false });
  const p6 = await ok("/IpamDriver.RequestPool", { AddressSpace: spaces.LocalDefaultAddressSpace, Pool: "", SubPool: "", Options: {}, V6: true });
  assert.deepEqual(p4, { PoolID: "tabby/4/*", Pool: "0.0.0.0/0", Data: { "com.docker.network.gateway": "0.0.0.0/0" } });
  const refused = await call("/NetworkDriver.CreateNetwork", {
    NetworkID: NET_ID,
    Options: { "com.docker.network.generic": { "tabby.mtu": "1400" } },
    IPv4Data: [],
    IPv6Data: [],
  });
  assert.equal(refused.status, 500);
  assert.match(String(refused.body.Err), /does not implement: tabby\.mtu/);
  await ok("/NetworkDriver.CreateNetwork", {
    NetworkID: NET_ID,
    Options: { "com.docker.network.enable_ipv6": true, "com.docker.network.generic": {} },
    IPv4Data: [{ AddressSpace: "tabby-local", Pool: "0.0.0.0/0", Gateway: "0.0.0.0/0", AuxAddresses: null }],
    IPv6Data: [{ AddressSpace: "tabby-local", Pool: "::/0", Gateway: "::/0", AuxAddresses: null }],
  });

  // `docker run --network shop --label role=web`: addresses, endpoint, join.
  const a4 = String((await ok("/IpamDriver.RequestAddress", { PoolID: p4.PoolID, Address: "", Options: {} })).Address);
  const a6 = String((await ok("/IpamDriver.RequestAddress", { PoolID: p6.PoolID, Address: "", Options: {} })).Address);
  assert.match(a4, /^10\.69\.\d+\.\d+\/32$/);
  assert.match(a6, /^fd69:.*\/128$/);
  await ok("/NetworkDriver.CreateEndpoint", { NetworkID: NET_ID, EndpointID: EP_ID, Options: {}, Interface: { Address: a4, AddressIPv6: a6, MacAddress: "" } });
  assert.deepEqual(await ok("/NetworkDriver.EndpointOperInfo", { NetworkID: NET_ID, EndpointID: EP_ID }), { Value: {} });
  const joined = await ok("/NetworkDriver.Join", { NetworkID: NET_ID, EndpointID: EP_ID, SandboxKey: `/var/run/netns/${C1}`, Options: {} });
  assert.deepEqual(joined.StaticRoutes, [{ Destination: "169.254.1.1/32", RouteType: 1, NextHop: "" }]);
  assert.equal(joined.Gateway, "169.254.1.1");
  assert.equal(joined.GatewayIPv6, "fe80::ecee:eeff:feee:eeee");
  const src = (joined.InterfaceName as { SrcName: string; DstPrefix: string }).SrcName;
  // What dockerd does with the answer.
  sh("ip", ["-n", HOST, "link", "set", src, "netns", C1]);
  sh("ip", ["-n", C1, "link", "set", src, "name", "eth0"]);
  inNs(C1, "sysctl", "-qw", "net.ipv6.conf.eth0.accept_dad=0");
  sh("ip", ["-n", C1, "addr", "add", a4, "dev", "eth0"]);
  sh("ip", ["-n", C1, "addr", "add", a6, "dev", "eth0", "nodad"]);
  for (const dev of ["eth0", "lo"]) sh("ip", ["-n", C1, "link", "set", dev, "up"]);
  sh("ip", ["-n", C1, "route", "add", "169.254.1.1/32", "dev", "eth0", "scope", "link"]);
  sh("ip", ["-n", C1, "route", "add", "default", "via", "169.254.1.1"]);
  sh("ip", ["-n", C1, "-6", "route", "add", "default", "via", "fe80::ecee:eeff:feee:eeee", "dev", "eth0"]);
  containers = [
    {
      Id: "c0ffee".padEnd(64, "2"),
      Names: ["/web1"],
      Labels: { role: "web", "com.example.build": "42", maintainer: "Jo <jo@example.com>" },
      NetworkSettings: { Networks: { shop: { NetworkID: NET_ID, EndpointID: EP_ID } } },
    },
  ];

  // The endpoint: the container's labels (mapped; an invalid one not taken), the network's profile.
  let wep: { metadata: { labels: Record<string, string> }; spec: { profiles: string[]; ipNetworks: string[]; interfaceName: string } } | undefined;
  await waitFor(
    "the workload endpoint",
    () => {
      const r = tabby("get", "workloadendpoints", "-n", "docker", "-o", "json");
      const list = JSON.parse(r.stdout || "{}") as { items?: (typeof wep)[] };
      wep = list.items?.[0] ?? (r.stdout.includes('"kind": "WorkloadEndpoint"') ? (JSON.parse(r.stdout) as typeof wep) : undefined);
      return wep !== undefined;
    },
    30000,
  );
  assert.deepEqual(wep!.metadata.labels, { role: "web", "projectcalico.org/namespace": "docker", "projectcalico.org/orchestrator": "libnetwork" });
  assert.deepEqual(wep!.spec.profiles, ["docker.4f1c0c3a2b1d"]);
  assert.deepEqual([...wep!.spec.ipNetworks].sort(), [a4, a6].sort());
  const profile = JSON.parse(tabby("get", "profile", "docker.4f1c0c3a2b1d", "-o", "json").stdout) as { spec: { labelsToApply: Record<string, string> } };
  assert.deepEqual(profile.spec.labelsToApply, { tier: "front", "docker.network": "shop" });

  // Out over both families; the uplink is not in the network: its pings do not get in.
  assert.ok(pings(C1, "192.168.252.2"), `IPv4 out\n${logs()}`);
  assert.ok(pings(C1, "fd12::2"), `IPv6 out\n${logs()}`);
  assert.ok(!pings(UP, a4.split("/")[0]!), "the profile lets in only the network's own endpoints");

  // A policy selecting the container's label blocks its traffic out.
  writeFileSync(
    join(dir, "deny.yaml"),
    "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: { name: web-out }\nspec:\n  selector: role == 'web'\n  types: [Egress]\n  egress: [{ action: Deny, protocol: ICMP }, { action: Deny, protocol: ICMPv6 }]\n",
  );
  assert.equal(tabby("apply", "-f", join(dir, "deny.yaml")).status, 0);
  await waitFor("the deny in force", () => spawnSync("ip", ["netns", "exec", C1, "ping", "-c", "1", "-W", "1", "192.168.252.2"]).status !== 0, 30000);
  assert.ok(!pings(C1, "fd12::2"));

  // `docker rm`: leave, delete the endpoint, release the addresses and the pools, delete the network.
  await ok("/NetworkDriver.Leave", { NetworkID: NET_ID, EndpointID: EP_ID });
  await ok("/NetworkDriver.DeleteEndpoint", { NetworkID: NET_ID, EndpointID: EP_ID });
  await ok("/IpamDriver.ReleaseAddress", { PoolID: p4.PoolID, Address: a4 });
  await ok("/IpamDriver.ReleaseAddress", { PoolID: p6.PoolID, Address: a6 });
  await ok("/IpamDriver.ReleasePool", { PoolID: p4.PoolID });
  await ok("/IpamDriver.ReleasePool", { PoolID: p6.PoolID });
  await ok("/NetworkDriver.DeleteNetwork", { NetworkID: NET_ID });
  assert.equal(
    JSON.parse(sh("ip", ["-n", HOST, "-j", "link", "show", "type", "veth"])).filter((l: { ifname: string }) => l.ifname.startsWith("tab")).length,
    0,
    "no veth left",
  );
  assert.doesNotMatch(tabby("get", "workloadendpoints", "-n", "docker", "-o", "json").stdout, /WorkloadEndpoint/);
  assert.notEqual(tabby("get", "profile", "docker.4f1c0c3a2b1d").status, 0, "the network's profile is gone");
  const check = tabby("ipam", "check");
  assert.equal(check.status, 0, check.stdout + check.stderr);
  const unknown = await call("/NetworkDriver.AllocateNetwork", { NetworkID: NET_ID });
  assert.equal(unknown.status, 500);
  assert.match(String(unknown.body.Err), /does not implement \/NetworkDriver\.AllocateNetwork/);
});
