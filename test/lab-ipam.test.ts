/**
 * IPAM in the lab (issue 6): a host whose block fills claims another; with strict affinity off,
 * a host whose pool is used up borrows from another host's block, advertises the borrowed
 * address as a /32 and is reachable from every host; and natOutgoing (the lab's IPv4 pool has
 * it): a workload reaching the fabric gateway (standing for the internet) arrives from its
 * host's fabric address.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resourceKey } from "../src/model/keys.js";
import { openStore } from "../src/datastore/open.js";
import { Ipam } from "../src/ipam/ipam.js";
import type { LabState } from "../src/lab/state.js";
import { parsePrefix } from "../src/net/prefix.js";
import { run, tabby, waitFor } from "./helpers.js";

const name = `ti${process.pid % 100000}`;
const env = { TABBY_LAB_ROOT: mkdtempSync(join(tmpdir(), "tabby-lab-")) };
const lab = (...args: string[]) => tabby(["lab", ...args, "--name", name], env);
const TINY = "10.123.0.0/28";
const extraNetns: string[] = [];

after(async () => {
  await lab("down");
  for (const ns of extraNetns) await run("ip", ["netns", "del", ns]);
  rmSync(env.TABBY_LAB_ROOT, { recursive: true, force: true });
});

const stateOf = () => JSON.parse(readFileSync(join(env.TABBY_LAB_ROOT, name, "state.json"), "utf8")) as LabState;
const bare = (a: string) => a.split("/")[0]!;

/** CNI ADD into host `host` the way src/lab/up.ts plugWorkload does, IPv4 from `pools`. */
async function plug(state: LabState, host: string, idx: number, pools?: string[]): Promise<string> {
  const h = state.plan.hosts.find((x) => x.name === host)!;
  const netns = `${name}-${host}-w${idx}`;
  extraNetns.push(netns);
  await run("ip", ["netns", "add", netns]);
  await run("ip", ["-n", netns, "link", "set", "lo", "up"]);
  const conf = {
    cniVersion: "1.0.0",
    name: "tabby-lab",
    type: "tabby",
    nodename: host,
    datastore: state.datastore,
    ipam: { type: "tabby-ipam", ...(pools ? { ipv4_pools: pools } : {}) },
  };
  const cniEnv = {
    CNI_COMMAND: "ADD",
    CNI_CONTAINERID: `lab-${name}-${host}-w${idx}`,
    CNI_NETNS: `/run/netns/${netns}`,
    CNI_IFNAME: "eth0",
    CNI_PATH: join(state.dir, "cni-bin"),
    CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=lab;K8S_POD_NAME=${host}-w${idx}`,
  };
  const r = await run("ip", ["netns", "exec", h.netns, join(state.dir, "cni-bin", "tabby")], { input: JSON.stringify(conf), env: cniEnv });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const ips = (JSON.parse(r.stdout) as { ips: { address: string }[] }).ips.map((i) => parsePrefix(i.address));
  return ips.find((p) => p.family === 4)!.addr.toString();
}

const pingFrom = async (netns: string, ip: string) => (await run("ip", ["netns", "exec", netns, "ping", "-c1", "-W1", ip])).code === 0;

test("lab IPAM: block claims, borrowing advertised as /32 and reachable, natOutgoing", { timeout: 600_000 }, async (t) => {
  const up = await lab("up", "--hosts", "3", "--workloads", "1");
  assert.equal(up.code, 0, up.stdout + up.stderr);
  const state = stateOf();
  const hostNs = (h: string) => state.plan.hosts.find((x) => x.name === h)!.netns;
  const hostIp = (h: string) => bare(state.plan.hosts.find((x) => x.name === h)!.ipv4);
  const wlOf = (h: string) => state.workloads.find((w) => w.host === h)!;

  await t.test("natOutgoing: a workload reaches the gateway from its host's address", async () => {
    const listener = spawn("ip", [
      "netns",
      "exec",
      state.plan.fabricNetns,
      process.execPath,
      "-e",
      `require("net").createServer((s) => { console.log(s.remoteAddress); s.end(); }).listen(7777, ${JSON.stringify(state.plan.gateway4)}, () => console.log("listening"));`,
    ]);
    try {
      let out = "";
      listener.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
      assert.ok(await waitFor(async () => out.includes("listening")));
      const wl = wlOf("h1");
      const connected = await waitFor(
        async () => (await run("ip", ["netns", "exec", wl.netns, "bash", "-c", `exec 3<>/dev/tcp/${state.plan.gateway4}/7777 && cat <&3`])).code === 0,
        50,
      );
      assert.ok(connected, "the workload reaches the gateway");
      const peers = out
        .split("\n")
        .filter((l) => l && l !== "listening")
        .map((l) => l.replace(/^::ffff:/, ""));
      assert.ok(peers.length >= 1);
      assert.ok(
        peers.every((p) => p === hostIp("h1")),
        `arrived from ${peers.join(", ")}, want ${hostIp("h1")} (workload ${wl.ipv4})`,
      );
      // And the ruleset says so.
      const nft = await run("ip", ["netns", "exec", hostNs("h1"), "nft", "list", "chain", "inet", "tabby", "nat-post"]);
      assert.match(nft.stdout, /masquerade/);
    } finally {
      listener.kill();
    }
  });

  // A tiny pool: two /29 blocks.
  const store = await openStore(state.datastore);
  try {
    await store.put(
      resourceKey("IPPool", "tiny"),
      JSON.stringify({
        apiVersion: "projectcalico.org/v3",
        kind: "IPPool",
        metadata: { name: "tiny" },
        spec: { cidr: TINY, blockSize: 29, natOutgoing: true },
      }),
    );
    const ipam = new Ipam(store);

    await t.test("filling a host's block makes it claim another", async () => {
      const got: string[] = [];
      for (let i = 0; i < 9; i++) got.push(await plug(state, "h1", 10 + i, [TINY]));
      assert.equal(new Set(got).size, 9);
      const blocks = (await ipam.blocksOfNode("h1")).filter((b) => parsePrefix(TINY).containsPrefix(parsePrefix(b.cidr)));
      assert.equal(blocks.length, 2, JSON.stringify(blocks));
      assert.deepEqual(blocks.map((b) => b.allocated).sort(), [1, 8]);
    });

    await t.test("a host whose pool is used up borrows; the /32 is advertised and reachable from every host", async () => {
      const borrowed = await plug(state, "h2", 20, [TINY]);
      const block = (await ipam.allBlocks()).find((b) => parsePrefix(b.cidr).contains(parsePrefix(borrowed).addr))!;
      assert.equal(block.affinity, "host:h1", `${borrowed} comes from h1's block ${block.cidr}`);
      for (const h of ["h1", "h3"]) {
        const viaH2 = await waitFor(async () => {
          const r = await run("ip", ["-n", hostNs(h), "-j", "route", "show", `${borrowed}/32`]);
          const routes = JSON.parse(r.stdout || "[]") as { gateway?: string }[];
          return routes.some((x) => x.gateway === hostIp("h2"));
        });
        assert.ok(viaH2, `${h} routes ${borrowed}/32 via h2 (${hostIp("h2")})`);
      }
      for (const h of ["h1", "h2", "h3"]) {
        assert.ok(await waitFor(() => pingFrom(wlOf(h).netns, borrowed), 30), `workload on ${h} reaches ${borrowed}`);
      }
    });

    await t.test("ipam check finds nothing wrong with what the CNI plugin allocated", async () => {
      const r = await tabby(["ipam", "check", "--datastore", state.datastore], env);
      assert.equal(r.code, 0, r.stdout + r.stderr);
    });
  } finally {
    await store.close();
  }
});
