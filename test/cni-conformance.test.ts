/**
 * CNI conformance of the installed `tabby` and `tabby-ipam` executables (`tabby cni install`),
 * invoked as a runtime would (test/cni-libcni.ts) inside a namespace standing for the host, with
 * the real IPAM over a SQLite datastore: every verb in every version (0.3.1, 0.4.0, 1.0.0, 1.1.0
 * with STATUS and GC), every error path's JSON, requested IP/MAC, pool selection, MTU from the
 * uplink, concurrent ADDs under the IPAM lock, and a chain in front of the reference portmap,
 * bandwidth and tuning plugins (Debian's containernetworking-plugins).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteStore } from "../src/datastore/sqlite.js";
import { tabby } from "./helpers.js";
import { type CniPluginError, LibCni, hostWithUplink, ipJson, type Conflist } from "./cni-libcni.js";

const P = `ttc2c${process.pid}`;
const HOST = `${P}h`;
const UP = `${P}u`;
const REF = "/usr/lib/cni";
const HAVE_REF = existsSync(join(REF, "portmap"));
const W = mkdtempSync(join(tmpdir(), `${P}-`));
const DB = join(W, "tabby.db");
const DS = `sqlite://${DB}`;
const made: string[] = [];
const procs: ChildProcess[] = [];

const ipj = ipJson;
const links = (ns: string): string[] => ipj(ns, "link", "show").map((l: { ifname: string }) => l.ifname);
const inNs = (ns: string, ...args: string[]) => execFileSync("ip", ["netns", "exec", ns, ...args], { encoding: "utf8" });

function netns(tag: string): string {
  const name = `${P}${tag}`;
  execFileSync("ip", ["netns", "add", name]);
  made.push(name);
  return `/var/run/netns/${name}`;
}

const lib = new LibCni([join(W, "bin"), REF], HOST, { TABBY_IPAM_LOCK: join(W, "ipam.lock") });
const tabbyConf = (extra: Record<string, unknown> = {}) => ({ type: "tabby", datastore: DS, nodename: "host-a", ipam: { type: "tabby-ipam" }, ...extra });
const list = (cniVersion: string, ...plugins: Record<string, unknown>[]): Conflist => ({
  cniVersion,
  name: "tabbynet",
  plugins: plugins.length ? plugins : [tabbyConf()],
});

async function datastoreKeys(prefix: string): Promise<string[]> {
  const s = SqliteStore.open(DB);
  try {
    return (await s.list(prefix)).items.map((kv) => kv.key);
  } finally {
    await s.close();
  }
}
const handles = () => datastoreKeys("/calico/ipam/v2/handle/");
const weps = () => datastoreKeys("/calico/resources/v3/projectcalico.org/workloadendpoints/");
const hostVeths = () => links(HOST).filter((n) => n.startsWith("tab"));

async function assertClean(): Promise<void> {
  assert.deepEqual(await handles(), [], "no IPAM handle left");
  assert.deepEqual(await weps(), [], "no WorkloadEndpoint left");
  assert.deepEqual(hostVeths(), [], "no host veth left");
  assert.deepEqual(ipj(HOST, "route", "show", "proto", "152"), [], "no workload route left");
}

before(async () => {
  for (const ns of [HOST, UP]) {
    execFileSync("ip", ["netns", "add", ns]);
    made.push(ns);
  }
  hostWithUplink(HOST, UP, "192.168.251", "fd11", 1450);
  const inst = await tabby(["cni", "install", "--bin-dir", join(W, "bin"), "--no-conflist"]);
  assert.equal(inst.code, 0, inst.stderr);
  // The fast form: each wrapper runs its one-file CommonJS bundle (scripts/run-tests.mjs builds them).
  for (const name of ["tabby", "tabby-ipam"]) assert.match(readFileSync(join(W, "bin", name), "utf8"), new RegExp(`/dist/cni/${name}\\.cjs' "\\$@"\n$`));
  assert.equal(inst.stderr, "", "no note about missing bundles");
  const pools = `apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: pool-a}
spec: {cidr: 10.70.0.0/24, blockSize: 26, namespaceSelector: "projectcalico.org/name != 'blue'"}
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: aa-blue}
spec: {cidr: 10.72.0.0/24, blockSize: 26, namespaceSelector: "projectcalico.org/name == 'blue'"}
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: pool-c}
spec: {cidr: 10.73.0.0/24, blockSize: 26}
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: pool-v6}
spec: {cidr: "fd70::/64", blockSize: 122}
`;
  writeFileSync(join(W, "pools.yaml"), pools);
  const ap = await tabby(["apply", "-f", join(W, "pools.yaml"), "--datastore", DS]);
  assert.equal(ap.code, 0, ap.stderr);
});

after(() => {
  for (const p of procs) p.kill();
  for (const ns of made.reverse()) spawnSync("ip", ["netns", "del", ns]);
  rmSync(W, { recursive: true, force: true });
});

const VERSIONS = ["0.3.1", "0.4.0", "1.0.0", "1.1.0"];

test("every verb in every version: the answer is in the version asked for", async () => {
  const c = netns("v");
  for (const v of VERSIONS) {
    const l = list(v);
    const inv = { containerId: `ver${v.replace(/\./g, "")}`, netns: c, ifname: "eth0", args: "IgnoreUnknown=1" };
    const ver = await lib.exec("tabby", "VERSION", { cniVersion: v }, {});
    assert.deepEqual(JSON.parse(ver.stdout), { cniVersion: v, supportedVersions: ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] });
    const res = await lib.add(l, inv);
    assert.equal(res.cniVersion, v);
    const ips = res.ips as { version?: string; address: string; interface: number }[];
    assert.equal(ips.length, 2);
    assert.match(ips[0]!.address, /^10\.70\.0\.\d+\/32$/);
    assert.match(ips[1]!.address, /^fd70::[0-9a-f:]+\/128$/);
    assert.deepEqual(
      ips.map((x) => x.version),
      v.startsWith("0.") ? ["4", "6"] : [undefined, undefined],
    );
    assert.equal((res.interfaces as { sandbox?: string }[])[ips[0]!.interface]!.sandbox, c);
    if (v === "0.3.1") {
      await assert.rejects(lib.check(l, inv, res), (e: CniPluginError) => e.json.code === 1);
    } else {
      await lib.check(l, inv, res);
    }
    if (v === "1.1.0") {
      await lib.status(l);
    } else {
      await assert.rejects(lib.status(l), (e: CniPluginError) => e.json.code === 1);
    }
    await lib.del(l, inv, res);
    await lib.del(l, inv, res);
    await lib.del(l, { ...inv, netns: "" });
    await assertClean();
  }
});

test("every error path prints the spec's error JSON on stdout and exits 1", async () => {
  const c = netns("e");
  const inv = { containerId: "err1", netns: c, ifname: "eth0" };
  const expectErr = async (type: string, verb: string, conf: unknown, code: number, i: Partial<typeof inv> = inv) => {
    const r = await lib.exec(type, verb, conf, i);
    assert.equal(r.code, 1, `${type} ${verb}: ${r.stdout}`);
    const j = JSON.parse(r.stdout);
    assert.equal(j.code, code, r.stdout);
    assert.equal(typeof j.msg, "string");
    assert.equal(typeof j.cniVersion, "string");
    return j;
  };
  await expectErr("tabby", "ADD", "{not json", 6);
  await expectErr("tabby-ipam", "ADD", "{not json", 6);
  await expectErr("tabby", "ADD", { ...tabbyConf(), cniVersion: "9.9.9", name: "n" }, 1);
  await expectErr("tabby", "ADD", { ...tabbyConf(), cniVersion: "1.0.0", name: "n" }, 4, { ...inv, netns: "" });
  const gone = await expectErr("tabby", "ADD", { ...tabbyConf(), cniVersion: "1.0.0", name: "n" }, 4, { ...inv, netns: `/var/run/netns/${P}-no-such-netns` });
  assert.match(gone.msg, /is not a network namespace/);
  await expectErr("tabby", "ADD", { ...tabbyConf(), cniVersion: "1.0.0", name: "n" }, 4, { ...inv, containerId: "" });
  const down = { ...tabbyConf({ datastore: "sqlite:///dev/null/tabby.db" }), cniVersion: "1.1.0", name: "n" };
  const j = await expectErr("tabby", "ADD", down, 11);
  assert.equal(j.cniVersion, "1.1.0");
  await expectErr("tabby", "STATUS", down, 50, {});
  await expectErr("tabby-ipam", "STATUS", down, 50, {});
  await expectErr("tabby", "STATUS", { ...tabbyConf({ datastore: `sqlite://${join(W, "empty.db")}` }), cniVersion: "1.1.0", name: "n" }, 50, {});
  // Pool exhausted: a /30 pool on a datastore of its own.
  const small = `sqlite://${join(W, "small.db")}`;
  writeFileSync(join(W, "small.yaml"), "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: tiny}\nspec: {cidr: 10.74.0.0/30, blockSize: 30}\n");
  assert.equal((await tabby(["apply", "-f", join(W, "small.yaml"), "--datastore", small])).code, 0);
  const smallConf = { ...tabbyConf({ datastore: small }), cniVersion: "1.0.0", name: "n" };
  let ok = 0;
  for (let i = 0; i < 4; i++) {
    const r = await lib.exec("tabby-ipam", "ADD", smallConf, { ...inv, containerId: `fill${i}` });
    assert.equal(r.code, 0, r.stdout);
    ok++;
  }
  assert.equal(ok, 4);
  await expectErr("tabby", "ADD", smallConf, 102);
  assert.deepEqual(hostVeths(), [], "the failed ADD left no veth");
  assert.deepEqual(links(made.at(-1)!), ["lo"], "nor anything in the container");
  for (let i = 0; i < 4; i++) assert.equal((await lib.exec("tabby-ipam", "DEL", smallConf, { ...inv, containerId: `fill${i}` })).code, 0);
  assert.equal((await lib.exec("tabby", "ADD", smallConf, inv)).code, 0, "addresses are free again");
  assert.equal((await lib.exec("tabby", "DEL", smallConf, inv)).code, 0);
});

test("a requested IP and MAC, from CNI_ARGS (podman) and from runtimeConfig (capabilities ips, mac)", async () => {
  const c = netns("r");
  const l = list("1.0.0");
  const inv = { containerId: "req1", netns: c, ifname: "eth0", args: "IgnoreUnknown=1;IP=10.70.0.200;MAC=0a:58:0a:46:00:c8" };
  const res = await lib.add(l, inv);
  assert.deepEqual(
    (res.ips as { address: string }[]).map((x) => x.address),
    ["10.70.0.200/32"],
  );
  assert.equal(ipj(made.at(-1)!, "link", "show", "dev", "eth0")[0].address, "0a:58:0a:46:00:c8");
  // Someone else asking for the same address: error 102, nothing left behind.
  const c2 = netns("r2");
  await assert.rejects(lib.add(l, { containerId: "req2", netns: c2, ifname: "eth0", args: "IP=10.70.0.200" }), (e: CniPluginError) => e.json.code === 102);
  await lib.del(l, inv, res);
  await assertClean();

  const lc = list("1.0.0", tabbyConf({ capabilities: { ips: true, mac: true } }));
  const inv2 = { containerId: "req3", netns: c2, ifname: "eth0", capabilityArgs: { ips: ["10.70.0.201/24", "fd70::201/64"], mac: "0a:58:0a:46:00:c9" } };
  const res2 = await lib.add(lc, inv2);
  assert.deepEqual(
    (res2.ips as { address: string }[]).map((x) => x.address),
    ["10.70.0.201/32", "fd70::201/128"],
  );
  assert.equal(ipj(made.at(-1)!, "link", "show", "dev", "eth0")[0].address, "0a:58:0a:46:00:c9");
  await lib.del(lc, inv2, res2);
  await assertClean();
});

test("pool selection: ipam.ipv4_pools, and a pool's namespaceSelector for K8S_POD_NAMESPACE", async () => {
  const c = netns("p");
  const run = async (l: Conflist, args: string, id: string) => {
    const inv = { containerId: id, netns: c, ifname: "eth0", args };
    const res = await lib.add(l, inv);
    await lib.del(l, inv, res);
    return (res.ips as { address: string }[]).map((x) => x.address);
  };
  const plain = list("1.0.0");
  const [a] = await run(plain, "K8S_POD_NAMESPACE=red;K8S_POD_NAME=p1", "pool1");
  assert.match(a!, /^10\.70\./, "a namespace the blue pool does not select");
  const [b] = await run(plain, "K8S_POD_NAMESPACE=blue;K8S_POD_NAME=p2", "pool2");
  assert.match(b!, /^10\.72\./, "the pool selecting namespace blue");
  const [cc, c6] = await run(list("1.0.0", tabbyConf({ ipam: { type: "tabby-ipam", ipv4_pools: ["pool-c"] } })), "", "pool3");
  assert.match(cc!, /^10\.73\./);
  assert.match(c6!, /^fd70::/);
  await assertClean();
});

test("MTU: from the config, else the host uplink's (the default route's interface)", async () => {
  const c = netns("m");
  const ns = made.at(-1)!;
  const inv = { containerId: "mtu1", netns: c, ifname: "eth0" };
  for (const [conf, want] of [
    [tabbyConf(), 1450],
    [tabbyConf({ mtu: 1300 }), 1300],
  ] as const) {
    const l = list("1.0.0", conf);
    const res = await lib.add(l, inv);
    assert.equal(ipj(ns, "link", "show", "dev", "eth0")[0].mtu, want);
    await lib.del(l, inv, res);
  }
  await assertClean();
});

test("GC (1.1.0) removes every attachment not in cni.dev/valid-attachments", async () => {
  const l = list("1.1.0");
  const a = { containerId: "gca", netns: netns("ga"), ifname: "eth0" };
  const b = { containerId: "gcb", netns: netns("gb"), ifname: "eth0" };
  const ra = await lib.add(l, a);
  await lib.add(l, b);
  assert.equal((await handles()).length, 2);
  await lib.gc(l, [{ containerID: "gca", ifname: "eth0" }]);
  assert.deepEqual(await handles(), ["/calico/ipam/v2/handle/tabby-net.gca"]);
  assert.equal((await weps()).length, 1);
  assert.equal(hostVeths().length, 1);
  await lib.check(l, a, ra);
  await lib.gc(l, []);
  await assertClean();
  await lib.del(l, a, ra); // DEL after GC is still fine
});

test("the IPAM lock: concurrent ADDs get distinct addresses; a holder makes ADD wait; a holder killed blocks nobody", async () => {
  const lockFile = join(W, "ipam.lock");
  writeFileSync(lockFile, "999999999"); // an older tabby's lock file with a dead pid: only a name to lock now
  const conf = { ...tabbyConf(), cniVersion: "1.0.0", name: "n" };
  const ids = Array.from({ length: 8 }, (_, i) => `par${i}`);
  const outs = await Promise.all(ids.map((id) => lib.exec("tabby-ipam", "ADD", conf, { containerId: id, netns: "/x", ifname: "eth0" })));
  for (const o of outs) assert.equal(o.code, 0, o.stdout);
  const addrs = outs.flatMap((o) => (JSON.parse(o.stdout).ips as { address: string }[]).map((x) => x.address));
  assert.equal(addrs.length, 16);
  assert.equal(new Set(addrs).size, 16);
  const dels = await Promise.all(ids.map((id) => lib.exec("tabby-ipam", "DEL", conf, { containerId: id, netns: "", ifname: "eth0" })));
  for (const o of dels) assert.equal(o.code, 0, o.stdout);
  assert.ok(existsSync(lockFile), "the file stays, as Calico's does");

  // flock(1) from util-linux takes the same lock: ADD finishes only after the holder lets go
  const held = () => spawnSync("flock", ["-n", lockFile, "true"]).status !== 0;
  const holder = spawn("flock", [lockFile, "sleep", "1"], { stdio: "ignore" });
  procs.push(holder);
  const holderDone = new Promise<number>((r) => holder.on("exit", () => r(performance.now())));
  while (!held()) await new Promise((r) => setTimeout(r, 10));
  const add = await lib.exec("tabby-ipam", "ADD", conf, { containerId: "waits", netns: "/x", ifname: "eth0" });
  const addDone = performance.now();
  assert.equal(add.code, 0, add.stdout);
  assert.ok((await holderDone) <= addDone, "ADD completed after the holder released the lock");

  // a holder killed while holding it (-o: flock itself holds the lock, not its command)
  const killed = spawn("flock", ["-o", lockFile, "sleep", "30"], { stdio: "ignore" });
  procs.push(killed);
  while (!held()) await new Promise((r) => setTimeout(r, 10));
  const sleeper = Number(readFileSync(`/proc/${killed.pid}/task/${killed.pid}/children`, "utf8").trim());
  killed.kill("SIGKILL");
  await new Promise((r) => killed.on("exit", r));
  if (sleeper > 0) process.kill(sleeper, "SIGKILL"); // its command, which we started through it
  assert.equal(held(), false, "the kernel released the dead holder's lock");
  const del = await lib.exec("tabby-ipam", "DEL", conf, { containerId: "waits", netns: "", ifname: "eth0" });
  assert.equal(del.code, 0, del.stdout);
  await assertClean();
});

/** Connects from a namespace and returns what the server sent, or "" after several tries. */
function fetchFrom(ns: string, host: string, port: number): string {
  const js = `const s=require("net").connect({host:${JSON.stringify(host)},port:${port}});let d="";s.on("data",b=>d+=b);s.on("end",()=>process.stdout.write(d,()=>process.exit(0)));s.on("error",()=>process.exit(1));setTimeout(()=>process.exit(1),2000)`;
  for (let i = 0; i < 10; i++) {
    const r = spawnSync("ip", ["netns", "exec", ns, process.execPath, "-e", js], { encoding: "utf8" });
    if (r.status === 0 && r.stdout) return r.stdout;
  }
  return "";
}

test("chained in front of portmap, bandwidth and tuning, run as libcni runs a conflist", {
  skip: !HAVE_REF && "containernetworking-plugins is not installed",
}, async () => {
  const l = list(
    "1.0.0",
    tabbyConf(),
    { type: "portmap", snat: true, capabilities: { portMappings: true } },
    { type: "bandwidth", capabilities: { bandwidth: true } },
    { type: "tuning", sysctl: { "net.core.somaxconn": "512" } },
  );
  const c = netns("x");
  const cns = made.at(-1)!;
  const server = spawn(
    "ip",
    ["netns", "exec", cns, process.execPath, "-e", `require("net").createServer(s=>s.end("tabby-"+s.localPort+"\\n")).listen(8080,"::")`],
    { stdio: "ignore" },
  );
  procs.push(server);
  for (const [id, pm] of [
    ["chain1", { hostPort: 18080, containerPort: 8080, protocol: "tcp" }],
    ["chain2", { HostPort: 18081, ContainerPort: 8080, Protocol: "TCP", HostIP: "" }],
  ] as const) {
    const hostPort = "hostPort" in pm ? pm.hostPort : pm.HostPort;
    const inv = {
      containerId: id,
      netns: c,
      ifname: "eth0",
      capabilityArgs: { portMappings: [pm], bandwidth: { ingressRate: 10_000_000, ingressBurst: 1_000_000, egressRate: 10_000_000, egressBurst: 1_000_000 } },
    };
    const res = await lib.add(l, inv);
    const hostIf = (res.interfaces as { name: string; sandbox?: string }[]).find((i) => !i.sandbox && i.name.startsWith("tab"))!.name;
    // (No CHECK here: portmap 1.1.1's CHECK looks for IPv4 rules in its IPv6 chain and fails on
    // dual-stack results; runtimes never call CHECK.)
    // tabby's result went through every plugin.
    assert.match((res.ips as { address: string }[])[0]!.address, /^10\.70\./);
    // tuning set the sysctl in the container; bandwidth put a tbf on the host veth.
    assert.equal(inNs(cns, "cat", "/proc/sys/net/core/somaxconn").trim(), "512");
    assert.match(inNs(HOST, "tc", "qdisc", "show", "dev", hostIf), /tbf/);
    // The port mapping: from the upstream namespace to the host's address, DNAT to the container.
    assert.equal(fetchFrom(UP, "192.168.251.1", hostPort), "tabby-8080\n", `IPv4 port mapping ${hostPort}`);
    assert.equal(fetchFrom(UP, "fd11::1", hostPort), "tabby-8080\n", `IPv6 port mapping ${hostPort}`);
    await lib.del(l, inv, res);
    await lib.del(l, { ...inv, netns: "" });
    assert.doesNotMatch(inNs(HOST, "iptables-save", "-t", "nat"), new RegExp(`dport ${hostPort}`), "portmap's rules are gone");
    assert.doesNotMatch(inNs(HOST, "ip6tables-save", "-t", "nat"), new RegExp(`dport ${hostPort}`));
    assert.deepEqual(
      links(HOST).filter((n) => n.startsWith("bwp")),
      [],
      "bandwidth's ifb is gone",
    );
    await assertClean();
  }
});
