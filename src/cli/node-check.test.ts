/** `tabby node check`: each verdict and its fix, from a fake host. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { judgeCni, judgeNft, judgeNode, judgePort, judgeSchema, judgeSysctl, runChecks, type HostProbe } from "./node-check.js";
import { cleanupPlan } from "./node-cleanup.js";

test("node: 22 and 24 pass, 20 fails with the way out", () => {
  assert.equal(judgeNode("v24.21.0").verdict, "ok");
  assert.equal(judgeNode("v22.12.0").verdict, "ok");
  const f = judgeNode("v20.20.2");
  assert.equal(f.verdict, "FAIL");
  assert.match(f.fix!, /install-node\.sh/);
});

test("nft: missing, too old, unreadable, fine", () => {
  assert.equal(judgeNft(127, "").verdict, "FAIL");
  assert.equal(judgeNft(0, "nftables v0.9.1 (Headless Horseman)").verdict, "FAIL");
  assert.equal(judgeNft(0, "nftables v0.9.3 (Topsy)").verdict, "ok");
  assert.equal(judgeNft(0, "nftables v1.0.6 (Lester Gooch #5)").verdict, "ok");
  assert.equal(judgeNft(0, "something").verdict, "warn");
});

test("sysctl: 1 is ok, 0 warns (the agent sets it) with the command", () => {
  assert.equal(judgeSysctl("net.ipv4.ip_forward", "1\n").verdict, "ok");
  const f = judgeSysctl("net.ipv4.ip_forward", "0\n");
  assert.equal(f.verdict, "warn");
  assert.match(f.fix!, /sysctl -w net\.ipv4\.ip_forward=1/);
});

test("cni: another config that wins, tabby's missing, unused others, none", () => {
  assert.equal(judgeCni("/etc/cni/net.d", ["10-tabby.conflist"]).verdict, "ok");
  const first = judgeCni("/etc/cni/net.d", ["05-flannel.conflist", "10-tabby.conflist"]);
  assert.equal(first.verdict, "FAIL");
  assert.match(first.detail, /05-flannel\.conflist .* sorts before 10-tabby\.conflist/);
  assert.match(judgeCni("/etc/cni/net.d", ["87-podman-bridge.conflist"]).detail, /no 10-tabby\.conflist/);
  assert.equal(judgeCni("/etc/cni/net.d", ["10-tabby.conflist", "87-podman-bridge.conflist", "README"]).verdict, "warn");
  assert.equal(judgeCni("/etc/cni/net.d", undefined).verdict, "warn");
});

test("bgp port: in use by another program fails; by the agent is fine", () => {
  assert.equal(judgePort(179, undefined, false).verdict, "ok");
  assert.equal(judgePort(179, "EADDRINUSE", true).verdict, "ok");
  const f = judgePort(179, "EADDRINUSE", false);
  assert.equal(f.verdict, "FAIL");
  assert.match(f.fix!, /ss -ltnp/);
});

test("datastore: a schema that needs a newer tabby fails", () => {
  assert.equal(judgeSchema(undefined).verdict, "ok");
  assert.equal(judgeSchema({ value: JSON.stringify({ version: 1, minReader: 1, writtenBy: "0.1.0" }), revision: 3 }).verdict, "ok");
  const f = judgeSchema({ value: JSON.stringify({ version: 9, minReader: 9, writtenBy: "9.0.0" }), revision: 3 });
  assert.equal(f.verdict, "FAIL");
  assert.match(f.detail, /9\.0\.0/);
});

test("runChecks on a fake host: an unreachable datastore fails with a fix, everything is reported", async () => {
  const probe: HostProbe = {
    nodeVersion: "v24.21.0",
    run: async (cmd, args) => {
      if (cmd === "uname") return { code: 0, stdout: "6.1.0-18-amd64\n", stderr: "" };
      if (cmd === "nft" && args[0] === "--version") return { code: 0, stdout: "nftables v1.0.6 (Lester Gooch #5)\n", stderr: "" };
      if (cmd === "nft") return { code: 0, stdout: "", stderr: "" };
      if (cmd === "ip") return { code: 0, stdout: "[{}]", stderr: "" };
      if (cmd === "timedatectl") return { code: 0, stdout: "no\n", stderr: "" };
      return { code: 127, stdout: "", stderr: "" };
    },
    readFile: (p) => (p.startsWith("/proc/sys") ? "1\n" : p.endsWith("modules.builtin") ? "kernel/drivers/net/veth.ko\n" : undefined),
    listDir: (p) => (p === "/etc/cni/net.d" ? ["10-tabby.conflist"] : undefined),
    tryListen: async () => undefined,
    agentRunning: async () => false,
    readSchema: async () => {
      throw new Error("connect ECONNREFUSED 10.0.0.10:2379");
    },
  };
  const fs = await runChecks(probe, { confDir: "/etc/cni/net.d", port: 179 });
  const by = Object.fromEntries(fs.map((f) => [f.check, f]));
  assert.equal(by["datastore"]!.verdict, "FAIL");
  assert.match(by["datastore"]!.fix!, /TABBY_DATASTORE/);
  assert.equal(by["clock"]!.verdict, "warn");
  assert.equal(by["module veth"]!.verdict, "ok");
  assert.equal(by["module nf_tables"]!.verdict, "ok", "nft answering is proof enough");
  assert.deepEqual(
    fs.filter((f) => f.verdict === "FAIL").map((f) => f.check),
    ["datastore"],
  );
});

test("cleanup plan: tabby's veths, both route families, the table; nothing else", () => {
  const steps = cleanupPlan({
    links: [{ ifname: "lo" }, { ifname: "eth0", kind: "veth" }, { ifname: "tab1234567890a", kind: "veth" }, { ifname: "tabular", kind: "bridge" }],
    routes4: ["10.65.0.0/26"],
    routes6: [],
    nftTable: true,
  });
  assert.deepEqual(
    steps.map((s) => [s.cmd, ...s.args].join(" ")),
    ["ip link del tab1234567890a", "ip -4 route flush table all proto 152", "nft delete table inet tabby"],
  );
  assert.deepEqual(cleanupPlan({ links: [], routes4: [], routes6: [], nftTable: false }), []);
});
