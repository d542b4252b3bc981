import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeClock } from "../clock.js";
import { MemoryStore } from "../datastore/memory.js";
import { FakeIpam } from "../testkit/cni/fake-ipam.js";
import { FakePlumbing } from "../testkit/cni/fake-plumbing.js";
import { DockerDriver, hostIfOf, parsePoolId, poolId, tempIfOf, type DockerEngine } from "./driver.js";
import { findContainer } from "./engine.js";

const NET = "n".repeat(64);
const EP = "e".repeat(64);

function setup(engine?: DockerEngine) {
  const store = new MemoryStore();
  const plumbing = new FakePlumbing();
  const ipam = new FakeIpam("10.65.0.0/26", "fd00:65::/122");
  const waited: unknown[] = [];
  const d = new DockerDriver({
    store,
    ipam,
    plumbing,
    hostSysctl: { write: async () => {}, read: async () => "" },
    hostNetnsPath: "/proc/self/ns/net",
    node: "h1",
    clock: new FakeClock(1_767_225_600_000),
    labelRules: { map: { "com.example.": null } },
    ...(engine ? { engine } : {}),
    waitProgrammed: async (w) => {
      waited.push(w);
      return true;
    },
  });
  return { d, store, plumbing, waited };
}

test("pool ids carry the family and the pools", () => {
  assert.equal(poolId(4, undefined), "tabby/4/*");
  assert.equal(poolId(6, ["a", "b"]), "tabby/6/a,b");
  assert.deepEqual(parsePoolId("tabby/6/a,b"), { fam: 6, pools: ["a", "b"] });
  assert.deepEqual(parsePoolId("tabby/4/*"), { fam: 4 });
  assert.throws(() => parsePoolId("default-pool"), /not made by tabby/);
});

test("findContainer: the container whose network settings name the endpoint", () => {
  const list = [
    { Id: "x", Names: ["/other"], Labels: { a: "1" }, NetworkSettings: { Networks: { n: { EndpointID: "zzz" } } } },
    { Id: "y", Names: ["/web"], Labels: null, NetworkSettings: { Networks: { n: { EndpointID: EP } } } },
  ];
  assert.deepEqual(findContainer(list, EP), { id: "y", name: "web", labels: {} });
  assert.equal(findContainer(list, "nope"), undefined);
});

test("RequestPool: whole family or a listed pool; unknown options and --ip-range refused by name", async () => {
  const { d } = setup();
  assert.deepEqual(await d.handle("/IpamDriver.RequestPool", { Pool: "", Options: { ipv4_pools: "blue,green" }, V6: false }), {
    PoolID: "tabby/4/blue,green",
    Pool: "0.0.0.0/0",
    Data: { "com.docker.network.gateway": "0.0.0.0/0" },
  });
  await assert.rejects(d.handle("/IpamDriver.RequestPool", { Options: { color: "red" } }), /does not implement: color/);
  await assert.rejects(d.handle("/IpamDriver.RequestPool", { SubPool: "10.0.0.0/24" }), /--ip-range/);
  await assert.rejects(d.handle("/IpamDriver.RequestPool", { Pool: "10.9.0.0/16" }), /not the CIDR of a tabby IPPool/);
});

test("Join makes the veth with its peer in the host for dockerd; the endpoint is written with the container's labels; Leave removes both", async () => {
  const engine: DockerEngine = {
    containerOfEndpoint: async () => ({ id: "c1", name: "web1", labels: { role: "web", "com.example.x": "1", maintainer: "Jo <jo@x>" } }),
    network: async () => ({ name: "shop", labels: { tier: "front" } }),
  };
  const { d, store, plumbing, waited } = setup(engine);
  await d.handle("/NetworkDriver.CreateEndpoint", { NetworkID: NET, EndpointID: EP, Interface: { Address: "10.65.0.7/32", AddressIPv6: "fd00:65::7/128" } });
  const joined = await d.handle("/NetworkDriver.Join", { NetworkID: NET, EndpointID: EP, SandboxKey: "/var/run/docker/netns/abc" });
  assert.deepEqual(joined, {
    InterfaceName: { SrcName: tempIfOf(EP), DstPrefix: "eth" },
    Gateway: "169.254.1.1",
    GatewayIPv6: "fe80::ecee:eeff:feee:eeee",
    StaticRoutes: [{ Destination: "169.254.1.1/32", RouteType: 1, NextHop: "" }],
    DisableGatewayService: true,
  });
  const hostIf = hostIfOf(EP);
  assert.deepEqual(plumbing.lines.slice(1), [
    `createVeth ${hostIf} ee:ee:ee:ee:ee:ee mtu=- peer /proc/self/ns/net/${tempIfOf(EP)}`,
    `setupHost ${hostIf} proto=152 routes=[10.65.0.7/32 scope link, fd00:65::7/128]`,
  ]);
  // The endpoint is written in the background once the engine names the container.
  for (let i = 0; i < 50 && !waited.length; i++) await new Promise((r) => setTimeout(r, 5));
  const key = "/calico/resources/v3/projectcalico.org/workloadendpoints/docker/h1-libnetwork-eeeeeeeeeeee-eth0";
  const wep = JSON.parse((await store.get(key))!.value);
  assert.deepEqual(wep.metadata.labels, { role: "web", "projectcalico.org/namespace": "docker", "projectcalico.org/orchestrator": "libnetwork" });
  assert.equal(wep.spec.workload, "web1");
  assert.deepEqual(wep.spec.profiles, ["docker.nnnnnnnnnnnn"]);
  const profile = JSON.parse((await store.get("/calico/resources/v3/projectcalico.org/profiles/docker.nnnnnnnnnnnn"))!.value);
  assert.deepEqual(profile.spec, {
    ingress: [{ action: "Allow", source: { selector: "docker.network == 'shop'" } }],
    egress: [{ action: "Allow" }],
    labelsToApply: { tier: "front", "docker.network": "shop" },
  });
  assert.deepEqual(waited, [{ iface: hostIf, addrs: ["10.65.0.7/32", "fd00:65::7/128"] }]);

  await d.handle("/NetworkDriver.Leave", { NetworkID: NET, EndpointID: EP });
  assert.equal(await store.get(key), undefined);
  assert.equal(plumbing.lines.at(-1), `deleteLink ${hostIf}`);
  await d.handle("/NetworkDriver.DeleteEndpoint", { NetworkID: NET, EndpointID: EP });
  await d.handle("/NetworkDriver.DeleteNetwork", { NetworkID: NET });
  assert.equal(await store.get("/calico/resources/v3/projectcalico.org/profiles/docker.nnnnnnnnnnnn"), undefined);
});

test("a container label with tabby's own prefix keeps the endpoint unwritten (its traffic stays dropped)", async () => {
  const engine: DockerEngine = {
    containerOfEndpoint: async () => ({ id: "c", name: "x", labels: { "projectcalico.org/namespace": "kube-system" } }),
    network: async () => ({ name: "shop", labels: {} }),
  };
  const { d, store } = setup(engine);
  await d.handle("/NetworkDriver.CreateEndpoint", { NetworkID: NET, EndpointID: EP, Interface: { Address: "10.65.0.8/32" } });
  await d.publishEndpoint(NET, EP, { addrs: ["10.65.0.8/32"] }).then(
    () => assert.fail("refused"),
    (e: Error) => assert.match(e.message, /tabby's own/),
  );
  assert.equal((await store.list("/calico/resources/v3/projectcalico.org/workloadendpoints/")).items.length, 0);
});

test("a CNI runtime's GC leaves Docker's endpoints alone", async () => {
  const { netGc } = await import("../cni/gc-status.js");
  const { FakeRunner } = await import("../dataplane/exec.js");
  const store = new MemoryStore();
  const wep = (name: string, orchestrator: string) =>
    store.put(
      `/calico/resources/v3/projectcalico.org/workloadendpoints/ns/${name}`,
      JSON.stringify({
        kind: "WorkloadEndpoint",
        metadata: { name },
        spec: { orchestrator, node: "h1", containerID: name, endpoint: "eth0", interfaceName: `tab${name}` },
      }),
    );
  await wep("dock", "libnetwork");
  await wep("podx", "cni");
  const runner = new FakeRunner();
  assert.deepEqual(await netGc(store, runner, undefined, "h1", []), ["podx"]);
  assert.ok(await store.get("/calico/resources/v3/projectcalico.org/workloadendpoints/ns/dock"));
});
