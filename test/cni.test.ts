/**
 * The `tabby` CNI plugin against the real kernel. Three namespaces: `…host` stands for a host,
 * `…up` for its upstream router (the host needs a default route for proxy ARP to answer), `…c1`
 * for a container. ADD/CHECK/DEL run in process through dispatchCni with the real command runner,
 * a MemoryStore and the in-memory FakeIpam; VERSION runs the real executable.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { systemClock } from "../src/clock.js";
import { MemoryStore } from "../src/datastore/memory.js";
import { ExecRunner } from "../src/dataplane/exec.js";
import { NetnsSysctl } from "../src/dataplane/sysctl.js";
import { FakeIpam } from "../src/testkit/cni/fake-ipam.js";
import { dispatchCni, type CniRuntime } from "../src/cni/plugin-main.js";
import { hostWithUplink, ipIn, ipJson } from "./cni-libcni.js";

const P = `ttcn${process.pid}`;
const HOST = `${P}host`;
const UP = `${P}up`;
const C1 = `${P}c1`;
const NETNS = `/var/run/netns/${C1}`;

const inNs = (ns: string, ...args: string[]) => execFileSync("ip", ["netns", "exec", ns, ...args], { encoding: "utf8" });
const ipj = ipJson;
const ip = ipIn;

before(() => {
  for (const ns of [HOST, UP, C1]) execFileSync("ip", ["netns", "add", ns]);
  hostWithUplink(HOST, UP, "192.168.250", "fd10");
});

after(() => {
  for (const ns of [C1, UP, HOST]) {
    try {
      execFileSync("ip", ["netns", "del", ns]);
    } catch {
      /* already gone */
    }
  }
});

const store = new MemoryStore();
store.close = async () => {}; // dispatchCni closes its store after each call; keep the data
const ipam = new FakeIpam("10.66.0.0/26", "fd00:66::/122");
const runner = new ExecRunner();
const rt: CniRuntime = {
  openStore: async () => store,
  openIpam: async () => ipam,
  runner,
  hostNetns: HOST,
  hostSysctl: new NetnsSysctl(runner, HOST),
  delegateIpam: async () => assert.fail("no delegated IPAM in this test"),
  clock: systemClock,
  hostname: () => "host-a",
};
const conf = { cniVersion: "1.0.0", name: "tabby-net", type: "tabby", mtu: 1400, ipam: { type: "tabby-ipam" } };
const env = (cmd: string, netns = NETNS) => ({
  CNI_COMMAND: cmd,
  CNI_CONTAINERID: "ctr0001",
  CNI_NETNS: netns,
  CNI_IFNAME: "eth0",
  CNI_ARGS: "IgnoreUnknown=1;K8S_POD_NAMESPACE=web;K8S_POD_NAME=front-1;K8S_POD_UID=x",
});
const hostIf = "tab" + createHash("sha1").update("web.front-1").digest("hex").slice(0, 11);

/** Pings until it answers (the first may wait on neighbour discovery); false after 10 tries. */
function pings(ns: string, ...args: string[]): boolean {
  for (let i = 0; i < 10; i++) {
    if (spawnSync("ip", ["netns", "exec", ns, "ping", "-c", "1", "-W", "1", ...args]).status === 0) return true;
  }
  return false;
}

function ownedRoutes(ns: string): string[] {
  return [...ipj(ns, "-4", "route", "show", "proto", "152"), ...ipj(ns, "-6", "route", "show", "proto", "152")].map(
    (r: { dst: string; dev?: string }) => `${r.dst} ${r.dev}`,
  );
}

test("VERSION from the executable", () => {
  const main = fileURLToPath(new URL("../src/cni/tabby-ipam-main.js", import.meta.url));
  const r = spawnSync(process.execPath, [main], { input: '{"cniVersion":"1.0.0"}', env: { ...process.env, CNI_COMMAND: "VERSION" }, encoding: "utf8" });
  assert.equal(r.status, 0);
  assert.deepEqual(JSON.parse(r.stdout), { cniVersion: "1.0.0", supportedVersions: ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] });
});

test("ADD plugs the container in; CHECK passes; DEL leaves nothing; DEL again and without netns succeed", async () => {
  const add = await dispatchCni("tabby", JSON.stringify(conf), env("ADD"), rt);
  assert.equal(add.exitCode, 0, add.stdout);
  const result = JSON.parse(add.stdout);
  assert.deepEqual(result.ips, [
    { address: "10.66.0.1/32", interface: 1 },
    { address: "fd00:66::1/128", interface: 1 },
  ]);

  // Host side: the veth, its MAC, IPv6 link-local, sysctls, routes.
  const [link] = ipj(HOST, "link", "show", "dev", hostIf);
  assert.equal(link.address, "ee:ee:ee:ee:ee:ee");
  assert.equal(link.mtu, 1400);
  assert.ok(link.flags.includes("UP"));
  const hostAddrs = ipj(HOST, "addr", "show", "dev", hostIf)[0].addr_info.map((a: { local: string }) => a.local);
  assert.deepEqual(hostAddrs, ["fe80::ecee:eeff:feee:eeee"]);
  assert.equal(inNs(HOST, "cat", `/proc/sys/net/ipv4/conf/${hostIf}/proxy_arp`).trim(), "1");
  assert.equal(inNs(HOST, "cat", `/proc/sys/net/ipv4/neigh/${hostIf}/proxy_delay`).trim(), "0");
  assert.equal(inNs(HOST, "cat", `/proc/sys/net/ipv6/conf/${hostIf}/accept_ra`).trim(), "0");
  assert.deepEqual(ownedRoutes(HOST), [`10.66.0.1 ${hostIf}`, `fd00:66::1 ${hostIf}`]);

  // Container side: addresses and default routes.
  const cAddrs = ipj(C1, "addr", "show", "dev", "eth0")[0]
    .addr_info.filter((a: { scope: string }) => a.scope === "global")
    .map((a: { local: string; prefixlen: number }) => `${a.local}/${a.prefixlen}`);
  assert.deepEqual(cAddrs, ["10.66.0.1/32", "fd00:66::1/128"]);
  assert.deepEqual(
    ip(C1, "route", "show")
      .trim()
      .split("\n")
      .map((l) => l.trim()),
    ["default via 169.254.1.1 dev eth0", "169.254.1.1 dev eth0 scope link"],
  );
  assert.match(ip(C1, "-6", "route", "show", "default"), /^default via fe80::ecee:eeff:feee:eeee dev eth0/);

  // Traffic: to the host through the proxy-ARP gateway, and to the host veth's link-local.
  assert.ok(pings(C1, "192.168.250.1"), "container reaches the host through 169.254.1.1");
  assert.match(ip(C1, "neigh", "show", "169.254.1.1"), /lladdr ee:ee:ee:ee:ee:ee/);
  assert.ok(pings(C1, "-6", "fe80::ecee:eeff:feee:eeee%eth0"), "container reaches its IPv6 gateway");
  assert.ok(pings(C1, "-6", "fd10::1"), "container reaches the host over IPv6 via the link-local gateway");

  // The WorkloadEndpoint.
  const wepKv = await store.get("/calico/resources/v3/projectcalico.org/workloadendpoints/web/host--a-k8s-front--1-eth0");
  assert.ok(wepKv);
  const wep = JSON.parse(wepKv.value);
  assert.equal(wep.spec.interfaceName, hostIf);
  assert.equal(wep.spec.mac, ipj(C1, "link", "show", "dev", "eth0")[0].address);

  const check = await dispatchCni("tabby", JSON.stringify({ ...conf, prevResult: result }), env("CHECK"), rt);
  assert.deepEqual(check, { exitCode: 0, stdout: "" });

  const del = await dispatchCni("tabby", JSON.stringify(conf), env("DEL"), rt);
  assert.deepEqual(del, { exitCode: 0, stdout: "" });
  assert.deepEqual(
    ipj(HOST, "link", "show")
      .map((l: { ifname: string }) => l.ifname)
      .filter((n: string) => n.startsWith("tab")),
    [],
  );
  assert.deepEqual(ownedRoutes(HOST), []);
  assert.deepEqual(
    ipj(C1, "link", "show").map((l: { ifname: string }) => l.ifname),
    ["lo"],
  );
  assert.equal((await store.list("/calico/resources/v3/projectcalico.org/workloadendpoints/")).items.length, 0);
  assert.equal(ipam.byHandle.size, 0);

  const checkAfter = await dispatchCni("tabby", JSON.stringify({ ...conf, prevResult: result }), env("CHECK"), rt);
  assert.equal(JSON.parse(checkAfter.stdout).code, 103);
  assert.deepEqual(await dispatchCni("tabby", JSON.stringify(conf), env("DEL"), rt), { exitCode: 0, stdout: "" });
  assert.deepEqual(await dispatchCni("tabby", JSON.stringify(conf), env("DEL", ""), rt), { exitCode: 0, stdout: "" });
});

test("a failed ADD (interface name taken in the container) leaves nothing behind", async () => {
  ip(C1, "link", "add", "name", "eth0", "type", "veth", "peer", "name", "other0");
  try {
    const add = await dispatchCni("tabby", JSON.stringify(conf), env("ADD"), rt);
    assert.equal(add.exitCode, 1);
    assert.equal(JSON.parse(add.stdout).code, 4);
    assert.deepEqual(
      ipj(HOST, "link", "show")
        .map((l: { ifname: string }) => l.ifname)
        .filter((n: string) => n.startsWith("tab")),
      [],
    );
    assert.equal(ipam.byHandle.size, 0);
    assert.equal((await store.list("/calico/resources/v3/projectcalico.org/workloadendpoints/")).items.length, 0);
  } finally {
    ip(C1, "link", "del", "eth0");
  }
});

test("the tabby executable, run by a 'runtime' in the host namespace, with a delegated IPAM plugin", async () => {
  const { mkdtemp, writeFile, chmod, rm } = await import("node:fs/promises");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const dir = await mkdtemp(join(tmpdir(), `${P}-bin-`));
  try {
    // A stand-in IPAM plugin: fixed addresses (block-masked, as Calico's IPAM gives them).
    await writeFile(
      join(dir, "fixed-ipam"),
      `#!/bin/sh\ncat >/dev/null\n[ "$CNI_COMMAND" = ADD ] && echo '{"cniVersion":"1.0.0","ips":[{"address":"10.67.0.9/26"},{"address":"fd00:67::9/122"}]}'\nexit 0\n`,
    );
    await chmod(join(dir, "fixed-ipam"), 0o755);
    const main = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));
    const run = (cmd: string, netns: string) =>
      spawnSync("ip", ["netns", "exec", HOST, process.execPath, main], {
        input: JSON.stringify({
          cniVersion: "0.4.0",
          name: "tabby-net",
          type: "tabby",
          datastore: "memory://",
          nodename: "host-a",
          ipam: { type: "fixed-ipam" },
        }),
        env: { PATH: process.env.PATH, CNI_COMMAND: cmd, CNI_CONTAINERID: "ctr0002", CNI_NETNS: netns, CNI_IFNAME: "eth0", CNI_ARGS: "", CNI_PATH: dir },
        encoding: "utf8",
      });
    const add = run("ADD", NETNS);
    assert.equal(add.status, 0, add.stdout + add.stderr);
    const result = JSON.parse(add.stdout);
    assert.equal(result.cniVersion, "0.4.0");
    assert.deepEqual(result.ips, [
      { version: "4", address: "10.67.0.9/32", interface: 1 },
      { version: "6", address: "fd00:67::9/128", interface: 1 },
    ]);
    const hostIf2 = "tab" + createHash("sha1").update("ctr0002").digest("hex").slice(0, 11);
    assert.deepEqual(ownedRoutes(HOST), [`10.67.0.9 ${hostIf2}`, `fd00:67::9 ${hostIf2}`]);
    assert.equal(inNs(HOST, "cat", `/proc/sys/net/ipv4/conf/${hostIf2}/proxy_arp`).trim(), "1");
    assert.ok(pings(C1, "192.168.250.1"));
    const del = run("DEL", NETNS);
    assert.equal(del.status, 0, del.stdout + del.stderr);
    assert.equal(del.stdout, "");
    assert.deepEqual(ownedRoutes(HOST), []);
    assert.deepEqual(
      ipj(C1, "link", "show").map((l: { ifname: string }) => l.ifname),
      ["lo"],
    );
    assert.equal(run("DEL", "").status, 0);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
