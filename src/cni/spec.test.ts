/** Pure pieces added for CNI 1.1.0: port mapping spellings, runtimeConfig, prevResult merge, MTU parsing, GC list. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseNetConf } from "./config.js";
import { formatResult, mergeResults } from "./result.js";
import { defaultRouteDev4, defaultRouteDev6, ifindexFromProc } from "./mtu.js";

const base = { cniVersion: "1.1.0", name: "n", type: "tabby", ipam: { type: "tabby-ipam" } };

test("port mappings in podman's and containerd's spellings parse the same", () => {
  const a = parseNetConf(JSON.stringify({ ...base, runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }] } }));
  const b = parseNetConf(JSON.stringify({ ...base, runtimeConfig: { portMappings: [{ HostPort: 8080, ContainerPort: 80, Protocol: "TCP", HostIP: "" }] } }));
  assert.deepEqual(a.portMappings, [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }]);
  assert.deepEqual(b.portMappings, a.portMappings);
  assert.throws(() => parseNetConf(JSON.stringify({ ...base, runtimeConfig: { portMappings: [{ hostPort: 0, containerPort: 80 }] } })), { cniCode: 7 });
});

test("runtimeConfig ips/mac, args.cni.ips, ipv4_pools and valid-attachments", () => {
  const c = parseNetConf(
    JSON.stringify({
      ...base,
      ipam: { type: "tabby-ipam", ipv4_pools: ["p4"], ipv6_pools: ["fd00::/64"] },
      runtimeConfig: { ips: ["10.0.0.7/24"], mac: "0A:58:00:00:00:01" },
      args: { cni: { ips: ["fd00::7"] } },
      "cni.dev/valid-attachments": [{ containerID: "c1", ifname: "eth0" }],
    }),
  );
  assert.deepEqual(c.runtimeIps, ["10.0.0.7/24", "fd00::7"]);
  assert.equal(c.runtimeMac, "0a:58:00:00:00:01");
  assert.deepEqual([c.ipam?.ipv4_pools, c.ipam?.ipv6_pools], [["p4"], ["fd00::/64"]]);
  assert.deepEqual(c.validAttachments, [{ containerID: "c1", ifname: "eth0" }]);
  assert.throws(() => parseNetConf(JSON.stringify({ ...base, runtimeConfig: { ips: ["nope"] } })), { cniCode: 7 });
  assert.throws(() => parseNetConf(JSON.stringify({ ...base, ipam: { type: "tabby-ipam", ipv4_pools: "p4" } })), { cniCode: 7 });
});

test("a result after a prevResult: theirs first, our interface indices shifted; 1.1.0 has no ip version", () => {
  const prev = {
    interfaces: [{ name: "br0" }],
    ips: [{ address: "192.0.2.1/24", interface: 0 }],
    routes: [{ dst: "192.0.2.0/24" }],
    dns: { nameservers: ["192.0.2.53"] },
  };
  const ours = {
    interfaces: [{ name: "tab1" }, { name: "eth0", sandbox: "/ns" }],
    ips: [{ address: "10.0.0.1/32", interface: 1 }],
    routes: [{ dst: "0.0.0.0/0", gw: "169.254.1.1" }],
    dns: {},
  };
  const m = mergeResults(prev, ours);
  assert.deepEqual(formatResult(m, "1.1.0"), {
    cniVersion: "1.1.0",
    interfaces: [{ name: "br0" }, { name: "tab1" }, { name: "eth0", sandbox: "/ns" }],
    ips: [
      { address: "192.0.2.1/24", interface: 0 },
      { address: "10.0.0.1/32", interface: 2 },
    ],
    routes: [{ dst: "192.0.2.0/24" }, { dst: "0.0.0.0/0", gw: "169.254.1.1" }],
    dns: { nameservers: ["192.0.2.53"] },
  });
  assert.equal((formatResult(m, "0.3.1").ips as { version: string }[])[1]!.version, "4");
});

test("uplink detection reads the default routes from /proc", () => {
  const r4 =
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
    "eth0\t0000FEA9\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n" +
    "ens4\t00000000\t0100A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n";
  assert.equal(defaultRouteDev4(r4), "ens4");
  assert.equal(defaultRouteDev4(r4.split("\n").slice(0, 2).join("\n")), undefined);
  const r6 =
    "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003     up1\n" +
    "00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n";
  assert.equal(defaultRouteDev6(r6), "up1");
  assert.equal(defaultRouteDev6(r6.split("\n")[1]!), undefined);
});

test("the uplink's ifindex from /proc/net (to tell whether /sys is this namespace's)", () => {
  const inet6 = "fd1100000000000000000000000000001 03 40 00 80     up0\nfe80000000000000ecee00fffeeeeeee 1a 40 20 80 tab1234\n";
  const igmp = "Idx\tDevice    : Count Querier\tGroup    Users Timer\tReporter\n1\tlo        :     1      V3\n7\teth9      :     1      V3\n";
  assert.equal(ifindexFromProc(inet6, igmp, "up0"), 3);
  assert.equal(ifindexFromProc(inet6, igmp, "tab1234"), 26);
  assert.equal(ifindexFromProc(inet6, igmp, "eth9"), 7);
  assert.equal(ifindexFromProc(inet6, igmp, "nope"), undefined);
});
