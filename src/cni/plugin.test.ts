import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeClock } from "../clock.js";
import { MemoryStore } from "../datastore/memory.js";
import { FakeRunner } from "../dataplane/exec.js";
import type { SysctlWriter } from "../dataplane/sysctl.js";
import { FakeIpam } from "./fake-ipam.js";
import { dispatchCni, type CniRuntime } from "./plugin-main.js";
import { CONTAINER_SCRIPT } from "./net-plugin.js";

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
  const rt: CniRuntime = {
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
  return { store, runner, sysctl, rt, ipam };
}

const NETNS = "/var/run/netns/c1";
const conf = (ipam: Record<string, unknown> = { type: "tabby-ipam" }, v = "1.0.0") => JSON.stringify({ cniVersion: v, name: "tabby-net", type: "tabby", ipam });
const env = (cmd: string, extra: Record<string, string> = {}) => ({ CNI_COMMAND: cmd, CNI_CONTAINERID: "ctr1", CNI_NETNS: NETNS, CNI_IFNAME: "eth0", CNI_ARGS: "IgnoreUnknown=1;K8S_POD_NAMESPACE=web;K8S_POD_NAME=front", ...extra });
const LINK_JSON = `[{"ifindex":2,"ifname":"eth0","flags":["UP"],"mtu":1500,"address":"aa:bb:cc:dd:ee:01"}]`;

test("tabby-ipam: ADD assigns both families under tabby-net.<id>, repeats idempotently, DEL releases", async () => {
  const { rt, ipam } = setup();
  const ipamConf = JSON.stringify({ cniVersion: "0.4.0", name: "tabby-net", type: "tabby", ipam: { type: "tabby-ipam" } });
  const add = await dispatchCni("tabby-ipam", ipamConf, env("ADD"), rt);
  assert.equal(add.exitCode, 0);
  assert.equal(add.stdout, '{"cniVersion":"0.4.0","ips":[{"version":"4","address":"10.65.0.1/32"},{"version":"6","address":"fd00:65::1/128"}],"routes":[],"dns":{}}\n');
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

test("tabby ADD: exact commands, sysctls, WorkloadEndpoint and result", async () => {
  const { rt, runner, sysctl, store } = setup();
  runner.on("-j -batch -", { stdout: LINK_JSON });
  runner.on("link del", { code: 1, stderr: 'Cannot find device "x"' });
  const out = await dispatchCni("tabby", conf(), env("ADD"), rt);
  assert.equal(out.exitCode, 0, out.stdout);
  const hostIf = "tab" + (await import("node:crypto")).createHash("sha1").update("web.front").digest("hex").slice(0, 11);
  assert.equal(
    out.stdout,
    `{"cniVersion":"1.0.0","interfaces":[{"name":"${hostIf}","mac":"ee:ee:ee:ee:ee:ee"},{"name":"eth0","mac":"aa:bb:cc:dd:ee:01","sandbox":"${NETNS}"}],` +
      `"ips":[{"address":"10.65.0.1/32","interface":1},{"address":"fd00:65::1/128","interface":1}],` +
      `"routes":[{"dst":"0.0.0.0/0","gw":"169.254.1.1"},{"dst":"::/0","gw":"fe80::ecee:eeff:feee:eeee"}],"dns":{}}\n`,
  );
  assert.deepEqual(runner.lines(), [
    `ip link add name ${hostIf} address ee:ee:ee:ee:ee:ee type veth peer name eth0 netns ${NETNS}`,
    `[${NETNS}] sh -c ${CONTAINER_SCRIPT}`,
    `ip -batch -`,
  ]);
  assert.equal(
    runner.calls[1]!.input,
    [
      "net/ipv6/conf/eth0/disable_ipv6 0 net/ipv6/conf/eth0/accept_dad 0",
      "link set dev eth0 up",
      "addr replace 10.65.0.1/32 dev eth0",
      "addr replace fd00:65::1/128 dev eth0 nodad",
      "route replace 169.254.1.1 dev eth0 scope link",
      "route replace default via 169.254.1.1 dev eth0",
      "route replace default via fe80::ecee:eeff:feee:eeee dev eth0",
      "link show dev eth0",
      "",
    ].join("\n"),
  );
  assert.equal(runner.calls.at(-1)!.input, `link set dev ${hostIf} up\nroute replace 10.65.0.1/32 dev ${hostIf} scope link proto 152\nroute replace fd00:65::1/128 dev ${hostIf} proto 152\n`);
  assert.deepEqual(sysctl.writes.slice(0, 3), ["net/ipv4/ip_forward=1", "net/ipv6/conf/all/forwarding=1", `net/ipv4/conf/${hostIf}/route_localnet=1`]);
  assert.equal(sysctl.writes.length, 11);
  const kv = await store.get("/calico/resources/v3/projectcalico.org/workloadendpoints/web/host--a-k8s-front-eth0");
  assert.ok(kv);
  const wep = JSON.parse(kv.value);
  assert.equal(wep.metadata.creationTimestamp, "2026-01-01T00:00:00Z");
  assert.deepEqual(wep.spec, { orchestrator: "k8s", node: "host-a", containerID: "ctr1", endpoint: "eth0", interfaceName: hostIf, mac: "aa:bb:cc:dd:ee:01", ipNetworks: ["10.65.0.1/32", "fd00:65::1/128"], profiles: ["kns.web"], pod: "front" });
  // The namespace profile it lists exists (allow all, as Kubernetes' namespace conversion makes it).
  const profile = JSON.parse((await store.get("/calico/resources/v3/projectcalico.org/profiles/kns.web"))!.value);
  assert.deepEqual(profile.spec, { ingress: [{ action: "Allow" }], egress: [{ action: "Allow" }], labelsToApply: { "pcns.projectcalico.org/name": "web" } });
});

test("tabby ADD, IPv4 only: no container sysctls; all three processes start before the store opens", async () => {
  const { rt, runner } = setup(new FakeIpam("10.65.0.0/26", undefined));
  let callsAtOpen = -1;
  const open = rt.openStore;
  rt.openStore = async (url) => {
    callsAtOpen = runner.calls.length;
    return open(url);
  };
  runner.on("-j -batch -", { stdout: LINK_JSON });
  const out = await dispatchCni("tabby", conf(), env("ADD"), rt);
  assert.equal(out.exitCode, 0, out.stdout);
  assert.deepEqual(
    runner.lines().map((l) => l.replace(/tab[0-9a-f]{11}/, "tabX")),
    [`ip link add name tabX address ee:ee:ee:ee:ee:ee type veth peer name eth0 netns ${NETNS}`, `[${NETNS}] sh -c ${CONTAINER_SCRIPT}`, "ip -batch -"],
  );
  assert.equal(runner.calls[1]!.input!.split("\n")[0], "", "no sysctls for the container");
  assert.equal(callsAtOpen, 3, "the veth's `ip link add` and both programming processes started before the datastore was opened");
});

test("tabby ADD failing part-way undoes everything before reporting", async () => {
  const { rt, runner, store, ipam } = setup();
  runner.on("-j -batch -", { stdout: LINK_JSON });
  runner.on("-batch", { code: 2, stderr: "RTNETLINK answers: No such device" });
  const out = await dispatchCni("tabby", conf(), env("ADD"), rt);
  assert.equal(out.exitCode, 1);
  assert.deepEqual(JSON.parse(out.stdout), JSON.parse(JSON.stringify({ cniVersion: "1.0.0", code: 101, msg: JSON.parse(out.stdout).msg, details: "DP_COMMAND_FAILED" })));
  assert.match(JSON.parse(out.stdout).msg, /No such device/);
  assert.equal(ipam.byHandle.size, 0, "addresses released");
  assert.match(runner.lines().at(-1)!, /^ip link del dev tab[0-9a-f]{11}$/, "veth deleted last");
  assert.equal((await store.list("/calico/")).items.length, 0);
});

test("tabby ADD failing in IPAM: the waiting programs get no input, the veth is removed", async () => {
  const { rt, runner, store } = setup(new FakeIpam(undefined, undefined));
  const out = await dispatchCni("tabby", conf(), env("ADD"), rt);
  assert.equal(JSON.parse(out.stdout).code, 102);
  assert.equal(runner.calls.length, 4);
  assert.equal(runner.calls[1]!.input, undefined, "container program never fed");
  assert.equal(runner.calls[2]!.input, undefined, "host program never fed");
  assert.match(runner.lines().at(-1)!, /^ip link del dev tab[0-9a-f]{11}$/);
  assert.equal((await store.list("/calico/")).items.length, 0);
});

test("tabby DEL: removes veth, WEP and addresses; second DEL and DEL without netns succeed", async () => {
  const { rt, runner, store, ipam } = setup();
  runner.on("-j -batch -", { stdout: LINK_JSON });
  assert.equal((await dispatchCni("tabby", conf(), env("ADD"), rt)).exitCode, 0);
  const before = runner.calls.length;
  runner.on("link del", { code: 1, stderr: 'Cannot find device "x"' });
  assert.deepEqual(await dispatchCni("tabby", conf(), env("DEL"), rt), { exitCode: 0, stdout: "" });
  assert.match(runner.lines()[before]!, /^ip link del dev tab/);
  assert.equal(ipam.byHandle.size, 0);
  assert.equal((await store.list("/calico/resources/v3/projectcalico.org/workloadendpoints/")).items.length, 0);
  assert.ok(await store.get("/calico/resources/v3/projectcalico.org/profiles/kns.web"), "the namespace profile stays");
  assert.deepEqual(await dispatchCni("tabby", conf(), env("DEL"), rt), { exitCode: 0, stdout: "" });
  assert.deepEqual(await dispatchCni("tabby", conf(), env("DEL", { CNI_NETNS: "" }), rt), { exitCode: 0, stdout: "" });
});

test("tabby DEL of a container-named veth starts removing it before the store opens; a pod-named one waits for the endpoint", async () => {
  for (const [args, first] of [["", 0], ["IgnoreUnknown=1;K8S_POD_NAMESPACE=web;K8S_POD_NAME=front", 1]] as const) {
    const { rt, runner } = setup();
    runner.on("link del", { code: 1, stderr: 'Cannot find device "x"' });
    const order: string[] = [];
    const open = rt.openStore;
    rt.openStore = async (url) => {
      order.push("store");
      return open(url);
    };
    const run = runner.run.bind(runner);
    runner.run = (cmd, a, o) => {
      order.push(cmd);
      return run(cmd, a, o);
    };
    assert.deepEqual(await dispatchCni("tabby", conf(), env("DEL", { CNI_ARGS: args }), rt), { exitCode: 0, stdout: "" });
    assert.equal(order.indexOf("ip"), first, `CNI_ARGS ${JSON.stringify(args)}: ${order.join(", ")}`);
  }
});

test("tabby DEL leaves a re-created pod's endpoint and veth alone", async () => {
  const { rt, runner, store } = setup();
  runner.on("-j -batch -", { stdout: LINK_JSON });
  assert.equal((await dispatchCni("tabby", conf(), env("ADD", { CNI_CONTAINERID: "new" }), rt)).exitCode, 0);
  const n = runner.calls.length;
  assert.deepEqual(await dispatchCni("tabby", conf(), env("DEL", { CNI_CONTAINERID: "old" }), rt), { exitCode: 0, stdout: "" });
  assert.equal(runner.calls.length, n, "no kernel change");
  assert.equal((await store.list("/calico/resources/v3/projectcalico.org/workloadendpoints/")).items.length, 1);
});

test("CHECK on 0.3.1 is an incompatible version; unknown verbs are invalid env", async () => {
  const { rt } = setup();
  assert.equal(JSON.parse((await dispatchCni("tabby", conf(undefined, "0.3.1"), env("CHECK"), rt)).stdout).code, 1);
  assert.equal(JSON.parse((await dispatchCni("tabby", conf(), env("GC"), rt)).stdout).code, 1, "GC needs 1.1.0");
  assert.equal(JSON.parse((await dispatchCni("tabby", conf(), env("FOO"), rt)).stdout).code, 4);
  assert.equal(JSON.parse((await dispatchCni("tabby", conf(), env("CHECK"), rt)).stdout).code, 7, "CHECK needs prevResult");
});
