import { test } from "node:test";
import assert from "node:assert/strict";
import { answerVersion, parseCniArgs, parseEnv, parseNetConf, versionResult } from "./config.js";
import { CniError, errorJson } from "./errors.js";
import { TabbyError } from "../errors.js";
import { buildWep, hostIfName, ipamHandle, wepName, workloadIdentity } from "./identity.js";
import { formatResult, parseResult } from "./result.js";

const code = (n: number) => (e: unknown) => e instanceof CniError && e.cniCode === n;

test("parseNetConf: valid config, defaults and normalisation", () => {
  const c = parseNetConf(
    JSON.stringify({
      cniVersion: "1.0.0",
      name: "tabby-net",
      type: "tabby",
      mtu: 1400,
      datastore: "sqlite:///tmp/x.db",
      nodename: "h1",
      ipam: { type: "tabby-ipam", assign_ipv6: "false" },
    }),
  );
  assert.equal(c.name, "tabby-net");
  assert.equal(c.mtu, 1400);
  assert.equal(c.datastore, "sqlite:///tmp/x.db");
  assert.equal(c.nodename, "h1");
  assert.deepEqual(c.ipam, { type: "tabby-ipam", assign_ipv6: false });
  assert.equal(parseNetConf(JSON.stringify({ cniVersion: "0.3.1", name: "n", type: "tabby", mtu: 0 })).mtu, undefined);
});

test("parseNetConf: errors carry the spec's codes", () => {
  assert.throws(() => parseNetConf("{"), code(6));
  assert.throws(() => parseNetConf("[]"), code(6));
  assert.throws(() => parseNetConf(JSON.stringify({ cniVersion: "2.0.0", name: "n", type: "t" })), code(1));
  assert.throws(() => parseNetConf(JSON.stringify({ cniVersion: "1.0.0", name: "", type: "t" })), code(7));
  assert.throws(() => parseNetConf(JSON.stringify({ cniVersion: "1.0.0", name: "n" })), code(7));
  assert.throws(() => parseNetConf(JSON.stringify({ cniVersion: "1.0.0", name: "n", type: "t", mtu: 20 })), code(7));
  assert.throws(() => parseNetConf(JSON.stringify({ cniVersion: "1.0.0", name: "n", type: "t", ipam: {} })), code(7));
  assert.throws(() => parseNetConf(JSON.stringify({ cniVersion: "1.0.0", name: "n", type: "t" }), { requireIpam: true }), code(7));
  assert.throws(() => parseNetConf(JSON.stringify({ cniVersion: "1.0.0", name: "n", type: "t", datastore: "/tmp/x" })), code(7));
});

test("parseEnv: required variables per command", () => {
  const base = { CNI_CONTAINERID: "c1", CNI_NETNS: "/var/run/netns/x", CNI_IFNAME: "eth0", CNI_PATH: "/opt/cni/bin:/usr/lib/cni" };
  assert.deepEqual(parseEnv({ ...base, CNI_COMMAND: "ADD" }), {
    command: "ADD",
    containerId: "c1",
    netns: "/var/run/netns/x",
    ifname: "eth0",
    args: "",
    path: ["/opt/cni/bin", "/usr/lib/cni"],
  });
  assert.equal(parseEnv({ ...base, CNI_COMMAND: "DEL", CNI_NETNS: "" }).netns, "");
  assert.throws(() => parseEnv({ ...base, CNI_COMMAND: "ADD", CNI_NETNS: "" }), code(4));
  assert.throws(() => parseEnv({ ...base, CNI_COMMAND: "FOO" }), code(4));
  assert.throws(() => parseEnv({ ...base, CNI_COMMAND: "ADD", CNI_CONTAINERID: "a b" }), code(4));
  assert.throws(() => parseEnv({ ...base, CNI_COMMAND: "ADD", CNI_IFNAME: "a-very-long-ifname" }), code(4));
  assert.equal(parseEnv({ CNI_COMMAND: "VERSION" }).command, "VERSION");
});

test("parseCniArgs: CRI keys, podman IP/MAC, IgnoreUnknown", () => {
  const a = parseCniArgs("IgnoreUnknown=1;K8S_POD_NAMESPACE=web;K8S_POD_NAME=front-1;K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_UID=u;X=y");
  assert.equal(a.k8sNamespace, "web");
  assert.equal(a.k8sPodName, "front-1");
  assert.equal(a.k8sInfraContainerId, "abc");
  assert.equal(a.ignoreUnknown, true);
  const p = parseCniArgs("IP=10.0.0.9;MAC=AA:BB:CC:DD:EE:FF");
  assert.equal(p.ip, "10.0.0.9");
  assert.equal(p.mac, "aa:bb:cc:dd:ee:ff");
  assert.deepEqual(parseCniArgs("").all, {});
  assert.throws(() => parseCniArgs("X=y"), code(4));
  assert.throws(() => parseCniArgs("novalue"), code(4));
  assert.throws(() => parseCniArgs("IP=10.0.0.300"), code(4));
  assert.throws(() => parseCniArgs("MAC=zz"), code(4));
});

test("VERSION answer (golden) and version negotiation", () => {
  assert.equal(JSON.stringify(versionResult('{"cniVersion":"0.4.0"}')), '{"cniVersion":"0.4.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}');
  assert.equal(answerVersion(""), "1.0.0");
  assert.equal(answerVersion('{"cniVersion":"9.9.9"}'), "1.0.0");
});

test("error JSON (golden)", () => {
  assert.equal(JSON.stringify(errorJson(new CniError(7, "bad config"), "1.0.0")), '{"cniVersion":"1.0.0","code":7,"msg":"bad config"}');
  assert.equal(
    JSON.stringify(errorJson(new TabbyError("DP_COMMAND_FAILED", "ip failed"), "0.4.0")),
    '{"cniVersion":"0.4.0","code":101,"msg":"ip failed","details":"DP_COMMAND_FAILED"}',
  );
  assert.equal(errorJson(new TabbyError("DS_UNAVAILABLE", "down"), "1.0.0").code, 11);
  assert.equal(errorJson(new TabbyError("IPAM_EXHAUSTED", "full"), "1.0.0").code, 100);
  assert.equal(JSON.stringify(errorJson(new Error("boom"), "1.0.0")), '{"cniVersion":"1.0.0","code":5,"msg":"boom"}');
});

test("result JSON: 1.0.0 and 0.4.0 (golden), and parse back", () => {
  const r = {
    interfaces: [
      { name: "tab123", mac: "ee:ee:ee:ee:ee:ee" },
      { name: "eth0", mac: "aa:bb:cc:dd:ee:ff", sandbox: "/var/run/netns/c" },
    ],
    ips: [
      { address: "10.0.0.5/32", interface: 1 },
      { address: "fd00::5/128", interface: 1 },
    ],
    routes: [
      { dst: "0.0.0.0/0", gw: "169.254.1.1" },
      { dst: "::/0", gw: "fe80::ecee:eeff:feee:eeee" },
    ],
    dns: {},
  };
  assert.equal(
    JSON.stringify(formatResult(r, "1.0.0")),
    '{"cniVersion":"1.0.0","interfaces":[{"name":"tab123","mac":"ee:ee:ee:ee:ee:ee"},{"name":"eth0","mac":"aa:bb:cc:dd:ee:ff","sandbox":"/var/run/netns/c"}],' +
      '"ips":[{"address":"10.0.0.5/32","interface":1},{"address":"fd00::5/128","interface":1}],' +
      '"routes":[{"dst":"0.0.0.0/0","gw":"169.254.1.1"},{"dst":"::/0","gw":"fe80::ecee:eeff:feee:eeee"}],"dns":{}}',
  );
  assert.equal(
    JSON.stringify(formatResult({ ips: [{ address: "10.0.0.5/32" }, { address: "fd00::5/128" }] }, "0.4.0")),
    '{"cniVersion":"0.4.0","ips":[{"version":"4","address":"10.0.0.5/32"},{"version":"6","address":"fd00::5/128"}],"dns":{}}',
  );
  assert.deepEqual(parseResult(formatResult(r, "0.3.1")), r);
  assert.throws(() => parseResult({ ips: [{}] }), code(6));
});

test("workload identity, handle, veth name and WorkloadEndpoint name", () => {
  const k8s = workloadIdentity("c0ffee", parseCniArgs("IgnoreUnknown=1;K8S_POD_NAMESPACE=kube-system;K8S_POD_NAME=core-dns-1"));
  assert.deepEqual(k8s, { orchestrator: "k8s", namespace: "kube-system", workload: "core-dns-1", workloadId: "kube-system.core-dns-1", containerId: "c0ffee" });
  const cni = workloadIdentity("c0ffee", parseCniArgs(""));
  assert.deepEqual(cni, { orchestrator: "cni", namespace: "default", workload: "c0ffee", workloadId: "c0ffee", containerId: "c0ffee" });
  assert.equal(ipamHandle("c0ffee"), "tabby-net.c0ffee");
  assert.match(hostIfName(k8s), /^tab[0-9a-f]{11}$/);
  // Calico: "-" doubled in each segment, segments joined by "-".
  assert.equal(wepName("node-1", k8s, "eth0"), "node--1-k8s-core--dns--1-eth0");
  const wep = buildWep({
    node: "node-1",
    id: k8s,
    endpoint: "eth0",
    interfaceName: "tabX",
    mac: "aa:bb:cc:dd:ee:ff",
    ipNetworks: ["10.0.0.5/32"],
    uid: "u1",
    creationTimestamp: "2026-01-01T00:00:00Z",
  });
  assert.deepEqual(wep, {
    apiVersion: "projectcalico.org/v3",
    kind: "WorkloadEndpoint",
    metadata: {
      name: "node--1-k8s-core--dns--1-eth0",
      namespace: "kube-system",
      labels: { "projectcalico.org/namespace": "kube-system", "projectcalico.org/orchestrator": "k8s" },
      uid: "u1",
      creationTimestamp: "2026-01-01T00:00:00Z",
    },
    spec: {
      orchestrator: "k8s",
      node: "node-1",
      containerID: "c0ffee",
      endpoint: "eth0",
      interfaceName: "tabX",
      mac: "aa:bb:cc:dd:ee:ff",
      ipNetworks: ["10.0.0.5/32"],
      profiles: ["kns.kube-system"],
      pod: "core-dns-1",
    },
  });
  assert.equal(
    buildWep({ node: "n", id: cni, endpoint: "eth0", interfaceName: "t", mac: "m", ipNetworks: [], uid: "u", creationTimestamp: "t" }).spec.workload,
    "c0ffee",
  );
});
