import { test } from "node:test";
import { createHash } from "node:crypto";
import assert from "node:assert/strict";
import { FakeClock } from "../clock.js";
import { MemoryStore } from "../datastore/memory.js";
import { FakeRunner } from "../dataplane/exec.js";
import type { SysctlWriter } from "../dataplane/sysctl.js";
import { FakeIpam } from "../testkit/cni/fake-ipam.js";
import { dispatchCni, type CniRuntime } from "./plugin-main.js";
import { FakePlumbing } from "../testkit/cni/fake-plumbing.js";
import { netlinkError } from "../dataplane/netlink/socket.js";

class RecordingSysctl implements SysctlWriter {
  readonly writes: string[] = [];
  async write(path: string, value: string) {
    this.writes.push(`${path}=${value}`);
  }
  async read() {
    return "";
  }
}

function setup(ipam = new FakeIpam("10.65.0.0/26", "fd00:65::/122")) {
  const store = new MemoryStore();
  const runner = new FakeRunner();
  const sysctl = new RecordingSysctl();
  const plumbing = new FakePlumbing();
  const rt: CniRuntime = {
    plumbing: () => plumbing,
    openStore: async () => store,
    openIpam: async () => ipam,
    runner,
    hostSysctl: sysctl,
    delegateIpam: async () => assert.fail("no delegation expected"),
    clock: new FakeClock(1_767_225_600_000),
    hostname: () => "host-a",
    detectMtu: async () => undefined,
  };
  // close() must not lose the data between calls in a test
  store.close = async () => {};
  return { store, runner, sysctl, rt, ipam, plumbing };
}

const NETNS = "/var/run/netns/c1";
const conf = (ipam: Record<string, unknown> = { type: "tabby-ipam" }, v = "1.0.0") => JSON.stringify({ cniVersion: v, name: "tabby-net", type: "tabby", ipam });
const env = (cmd: string, extra: Record<string, string> = {}) => ({
  CNI_COMMAND: cmd,
  CNI_CONTAINERID: "ctr1",
  CNI_NETNS: NETNS,
  CNI_IFNAME: "eth0",
  CNI_ARGS: "IgnoreUnknown=1;K8S_POD_NAMESPACE=web;K8S_POD_NAME=front",
  ...extra,
});

test("tabby-ipam: ADD assigns both families under tabby-net.<id>, repeats idempotently, DEL releases", async () => {
  const { rt, ipam } = setup();
  const ipamConf = JSON.stringify({ cniVersion: "0.4.0", name: "tabby-net", type: "tabby", ipam: { type: "tabby-ipam" } });
  const add = await dispatchCni("tabby-ipam", ipamConf, env("ADD"), rt);
  assert.equal(add.exitCode, 0);
  assert.equal(
    add.stdout,
    '{"cniVersion":"0.4.0","ips":[{"version":"4","address":"10.65.0.1/32"},{"version":"6","address":"fd00:65::1/128"}],"routes":[],"dns":{}}\n',
  );
  assert.equal((await dispatchCni("tabby-ipam", ipamConf, env("ADD"), rt)).stdout, add.stdout);
  assert.deepEqual([...ipam.byHandle.keys()], ["tabby-net.ctr1"]);
  assert.equal((await dispatchCni("tabby-ipam", ipamConf, env("CHECK"), rt)).exitCode, 0);
  assert.deepEqual(await dispatchCni("tabby-ipam", ipamConf, env("DEL"), rt), { exitCode: 0, stdout: "" });
  assert.deepEqual(await dispatchCni("tabby-ipam", ipamConf, env("DEL", { CNI_NETNS: "" }), rt), { exitCode: 0, stdout: "" });
  assert.equal(ipam.byHandle.size, 0);
  const check = await dispatchCni("tabby-ipam", ipamConf, env("CHECK"), rt);
  assert.equal(check.exitCode, 1);
  assert.equal(JSON.parse(check.stdout).code, 103);
});

test("tabby-ipam: a family without a pool is skipped unless asked for explicitly", async () => {
  const only4 = setup(new FakeIpam("10.65.0.0/26", undefined));
  const a = await dispatchCni("tabby-ipam", conf(), env("ADD"), only4.rt);
  assert.deepEqual(JSON.parse(a.stdout).ips, [{ address: "10.65.0.1/32" }]);
  const strict = setup(new FakeIpam("10.65.0.0/26", undefined));
  const b = await dispatchCni("tabby-ipam", conf({ type: "tabby-ipam", assign_ipv6: true }), env("ADD"), strict.rt);
  assert.equal(b.exitCode, 1);
  assert.equal(JSON.parse(b.stdout).code, 102);
  assert.equal(strict.ipam.byHandle.size, 0, "the IPv4 address taken first is released");
  const none = setup(new FakeIpam(undefined, undefined));
  const c = await dispatchCni("tabby-ipam", conf(), env("ADD"), none.rt);
  assert.equal(JSON.parse(c.stdout).code, 102);
  const v6off = setup();
  const d = await dispatchCni("tabby-ipam", conf({ type: "tabby-ipam", assign_ipv6: false }), env("ADD"), v6off.rt);
  assert.deepEqual(JSON.parse(d.stdout).ips, [{ address: "10.65.0.1/32" }]);
});

const HOST_IF = "tab" + createHash("sha1").update("web.front").digest("hex").slice(0, 11);

test("tabby ADD: the kernel work in order, sysctls, WorkloadEndpoint and result", async () => {
  const { rt, plumbing, sysctl, store } = setup();
  const out = await dispatchCni("tabby", conf(), env("ADD"), rt);
  assert.equal(out.exitCode, 0, out.stdout);
  assert.equal(
    out.stdout,
    `{"cniVersion":"1.0.0","interfaces":[{"name":"${HOST_IF}","mac":"ee:ee:ee:ee:ee:ee"},{"name":"eth0","mac":"aa:bb:cc:dd:ee:01","sandbox":"${NETNS}"}],` +
      `"ips":[{"address":"10.65.0.1/32","interface":1},{"address":"fd00:65::1/128","interface":1}],` +
      `"routes":[{"dst":"0.0.0.0/0","gw":"169.254.1.1"},{"dst":"::/0","gw":"fe80::ecee:eeff:feee:eeee"}],"dns":{}}\n`,
  );
  assert.deepEqual(plumbing.lines, [
    `createVeth ${HOST_IF} ee:ee:ee:ee:ee:ee mtu=- peer ${NETNS}/eth0`,
    `setupContainer ${NETNS}/eth0 mac=- sysctls=[net/ipv6/conf/eth0/disable_ipv6=0 net/ipv6/conf/eth0/accept_dad=0] addrs=[10.65.0.1/32 fd00:65::1/128] ` +
      "routes=[169.254.1.1/32 scope link, 0.0.0.0/0 via 169.254.1.1, ::/0 via fe80::ecee:eeff:feee:eeee]",
    `setupHost ${HOST_IF} proto=152 routes=[10.65.0.1/32 scope link, fd00:65::1/128]`,
  ]);
  assert.equal(plumbing.closed, 1, "the plumbing's sockets are closed");
  assert.deepEqual(sysctl.writes.slice(0, 3), ["net/ipv4/ip_forward=1", "net/ipv6/conf/all/forwarding=1", `net/ipv4/conf/${HOST_IF}/route_localnet=1`]);
  assert.equal(sysctl.writes.length, 11);
  const kv = await store.get("/calico/resources/v3/projectcalico.org/workloadendpoints/web/host--a-k8s-front-eth0");
  assert.ok(kv);
  const wep = JSON.parse(kv.value);
  assert.equal(wep.metadata.creationTimestamp, "2026-01-01T00:00:00Z");
  assert.deepEqual(wep.spec, {
    orchestrator: "k8s",
    node: "host-a",
    containerID: "ctr1",
    endpoint: "eth0",
    interfaceName: HOST_IF,
    mac: "aa:bb:cc:dd:ee:01",
    ipNetworks: ["10.65.0.1/32", "fd00:65::1/128"],
    profiles: ["kns.web"],
    pod: "front",
  });
  // The namespace profile it lists exists (allow all, as Kubernetes' namespace conversion makes it).
  const profile = JSON.parse((await store.get("/calico/resources/v3/projectcalico.org/profiles/kns.web"))!.value);
  assert.deepEqual(profile.spec, { ingress: [{ action: "Allow" }], egress: [{ action: "Allow" }], labelsToApply: { "pcns.projectcalico.org/name": "web" } });
});

test("tabby ADD, IPv4 only with a requested MAC: no container sysctls; the veth is asked for before the store opens", async () => {
  const { rt, plumbing } = setup(new FakeIpam("10.65.0.0/26", undefined));
  let linesAtOpen = -1;
  const open = rt.openStore;
  rt.openStore = async (url) => {
    linesAtOpen = plumbing.lines.length;
    return open(url);
  };
  const out = await dispatchCni("tabby", conf(), env("ADD", { CNI_ARGS: "IgnoreUnknown=1;MAC=0A:58:0A:00:00:07" }), rt);
  assert.equal(out.exitCode, 0, out.stdout);
  assert.equal(
    plumbing.lines[1],
    `setupContainer ${NETNS}/eth0 mac=0a:58:0a:00:00:07 sysctls=[] addrs=[10.65.0.1/32] routes=[169.254.1.1/32 scope link, 0.0.0.0/0 via 169.254.1.1]`,
  );
  assert.equal(JSON.parse(out.stdout).interfaces[1].mac, "0a:58:0a:00:00:07", "as the kernel shows it");
  assert.equal(linesAtOpen, 1, "the veth was asked for before the datastore was opened");
});

test("tabby ADD failing part-way undoes everything before reporting", async () => {
  const { rt, plumbing, store, ipam } = setup();
  plumbing.failOn = { step: "setupHost", error: netlinkError(`route 10.65.0.1/32 dev ${HOST_IF}`, 19) };
  const out = await dispatchCni("tabby", conf(), env("ADD"), rt);
  assert.equal(out.exitCode, 1);
  const err = JSON.parse(out.stdout);
  assert.deepEqual(err, { cniVersion: "1.0.0", code: 101, msg: `route 10.65.0.1/32 dev ${HOST_IF}: ENODEV`, details: "DP_NETLINK_FAILED" });
  assert.equal(ipam.byHandle.size, 0, "addresses released");
  assert.equal(plumbing.lines.at(-1), `deleteLink ${HOST_IF}`, "veth deleted last");
  assert.equal(plumbing.hostLinks.size, 0);
  assert.equal((await store.list("/calico/")).items.length, 0);
});

test("tabby ADD failing in IPAM removes the veth and programs nothing", async () => {
  const { rt, plumbing, store } = setup(new FakeIpam(undefined, undefined));
  const out = await dispatchCni("tabby", conf(), env("ADD"), rt);
  assert.equal(JSON.parse(out.stdout).code, 102);
  assert.deepEqual(
    plumbing.lines.map((l) => l.split(" ")[0]),
    ["createVeth", "deleteLink"],
  );
  assert.equal(plumbing.hostLinks.size, 0);
  assert.equal((await store.list("/calico/")).items.length, 0);
});

test("tabby ADD: a stale host veth is replaced; a name taken in the container and a missing netns are the runtime's errors", async () => {
  const { rt, plumbing, ipam } = setup();
  plumbing.hostLinks.set(HOST_IF, "/var/run/netns/gone/eth0");
  const out = await dispatchCni("tabby", conf(), env("ADD"), rt);
  assert.equal(out.exitCode, 0, out.stdout);
  assert.deepEqual(
    plumbing.lines.slice(0, 3).map((l) => l.split(" ")[0]),
    ["createVeth", "deleteLink", "createVeth"],
  );
  assert.equal(ipam.byHandle.size, 1);

  const taken = setup();
  taken.plumbing.hostLinks.set("tabother", `${NETNS}/eth0`);
  const t = JSON.parse((await dispatchCni("tabby", conf(), env("ADD"), taken.rt)).stdout);
  assert.deepEqual([t.code, t.msg], [4, `interface eth0 already exists in ${NETNS}`]);
  assert.equal(taken.ipam.byHandle.size, 0, "the addresses IPAM assigned meanwhile are released");
  assert.ok(taken.plumbing.hostLinks.has("tabother"), "the other workload's veth is untouched");

  const missing = setup();
  missing.plumbing.netnsExists = () => false;
  const m = JSON.parse((await dispatchCni("tabby", conf(), env("ADD"), missing.rt)).stdout);
  assert.deepEqual([m.code, m.msg], [4, `CNI_NETNS ${NETNS} is not a network namespace`]);
});

test("tabby DEL: removes veth, WEP and addresses; second DEL and DEL without netns succeed", async () => {
  const { rt, plumbing, store, ipam } = setup();
  assert.equal((await dispatchCni("tabby", conf(), env("ADD"), rt)).exitCode, 0);
  const before = plumbing.lines.length;
  assert.deepEqual(await dispatchCni("tabby", conf(), env("DEL"), rt), { exitCode: 0, stdout: "" });
  assert.equal(plumbing.lines[before], `deleteLink ${HOST_IF}`);
  assert.equal(plumbing.hostLinks.size, 0);
  assert.equal(ipam.byHandle.size, 0);
  assert.equal((await store.list("/calico/resources/v3/projectcalico.org/workloadendpoints/")).items.length, 0);
  assert.ok(await store.get("/calico/resources/v3/projectcalico.org/profiles/kns.web"), "the namespace profile stays");
  assert.deepEqual(await dispatchCni("tabby", conf(), env("DEL"), rt), { exitCode: 0, stdout: "" });
  assert.deepEqual(await dispatchCni("tabby", conf(), env("DEL", { CNI_NETNS: "" }), rt), { exitCode: 0, stdout: "" });
});

test("tabby DEL of a container-named veth removes it before the store opens; a pod-named one waits for the endpoint", async () => {
  for (const [args, first] of [
    ["", 0],
    ["IgnoreUnknown=1;K8S_POD_NAMESPACE=web;K8S_POD_NAME=front", 1],
  ] as const) {
    const { rt, plumbing } = setup();
    const order: string[] = [];
    const open = rt.openStore;
    rt.openStore = async (url) => {
      order.push("store");
      return open(url);
    };
    const del = plumbing.deleteLink.bind(plumbing);
    plumbing.deleteLink = (name) => {
      order.push("deleteLink");
      return del(name);
    };
    assert.deepEqual(await dispatchCni("tabby", conf(), env("DEL", { CNI_ARGS: args }), rt), { exitCode: 0, stdout: "" });
    assert.equal(order.indexOf("deleteLink"), first, `CNI_ARGS ${JSON.stringify(args)}: ${order.join(", ")}`);
  }
});

test("tabby DEL leaves a re-created pod's endpoint and veth alone", async () => {
  const { rt, plumbing, store } = setup();
  assert.equal((await dispatchCni("tabby", conf(), env("ADD", { CNI_CONTAINERID: "new" }), rt)).exitCode, 0);
  const n = plumbing.lines.length;
  assert.deepEqual(await dispatchCni("tabby", conf(), env("DEL", { CNI_CONTAINERID: "old" }), rt), { exitCode: 0, stdout: "" });
  assert.equal(plumbing.lines.length, n, "no kernel change");
  assert.equal((await store.list("/calico/resources/v3/projectcalico.org/workloadendpoints/")).items.length, 1);
});

test("CHECK on 0.3.1 is an incompatible version; unknown verbs are invalid env", async () => {
  const { rt } = setup();
  assert.equal(JSON.parse((await dispatchCni("tabby", conf(undefined, "0.3.1"), env("CHECK"), rt)).stdout).code, 1);
  assert.equal(JSON.parse((await dispatchCni("tabby", conf(), env("GC"), rt)).stdout).code, 1, "GC needs 1.1.0");
  assert.equal(JSON.parse((await dispatchCni("tabby", conf(), env("FOO"), rt)).stdout).code, 4);
  assert.equal(JSON.parse((await dispatchCni("tabby", conf(), env("CHECK"), rt)).stdout).code, 7, "CHECK needs prevResult");
});
