/**
 * `tabby lab up --datastore etcd`: etcd runs in the fabric namespace and the agents and the CNI
 * plugin reach it over the fabric (etcd://10.99.0.254:2379). Then the outage drills:
 *  1. etcd frozen (SIGSTOP, by the pid the lab recorded) for 30 s: the agents keep the dataplane
 *     as it is — `lab check` passes during the freeze, tabby's routes do not change, no agent
 *     exits — and after SIGCONT everything still checks.
 *  2. A network cut between the hosts and etcd (nftables in the fabric drops port 2379 both
 *     ways on the bridge) while an operator, on the fabric itself, adds a BGPPeer for h1: the
 *     agents cannot see it during the cut, `lab check` still passes, and once the cut heals h1
 *     reconnects, resyncs and starts the new peering.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { alive, CLI, run, tabby, waitFor } from "./helpers.js";

const name = `te${process.pid % 100000}`;
const root = mkdtempSync(join(tmpdir(), "ttd2-lab-"));
const env = { TABBY_LAB_ROOT: root };
const lab = (...args: string[]) => tabby(["lab", ...args, "--name", name], env);
const fabric = `${name}-fabric`;
let etcdPid: number | undefined;

after(async () => {
  if (etcdPid !== undefined) {
    try {
      process.kill(etcdPid, "SIGCONT");
    } catch {
      /* gone */
    }
  }
  await lab("down");
  rmSync(root, { recursive: true, force: true });
});

interface State {
  datastore: string;
  processes: { role: string; name: string; pid: number }[];
}
const state = () => JSON.parse(readFileSync(join(root, name, "state.json"), "utf8")) as State;

async function tabbyRoutes(netns: string): Promise<string> {
  const r4 = await run("ip", ["-n", netns, "-4", "route", "show", "proto", "152"]);
  const r6 = await run("ip", ["-n", netns, "-6", "route", "show", "proto", "152"]);
  return r4.stdout + r6.stdout;
}

async function peersOfH1(): Promise<string[]> {
  const r = await tabby(["lab", "exec", "--name", name, "h1", "--", "tabby", "node", "status", "-o", "json"], env);
  if (r.code !== 0) return [];
  return (JSON.parse(r.stdout) as { address: string }[]).map((p) => p.address).sort();
}

async function checkPasses(when: string): Promise<void> {
  const c = await lab("check");
  assert.equal(c.code, 0, `${when}: ${c.stdout}${c.stderr}`);
  assert.match(c.stdout, /12 of 12 checks as expected/, when);
}

test("lab with etcd in the fabric survives a 30 s etcd freeze and a network cut; changes made during a cut apply after it", { timeout: 420_000 }, async (t) => {
  const up = await lab("up", "--hosts", "2", "--workloads", "1", "--datastore", "etcd");
  assert.equal(up.code, 0, up.stdout + up.stderr);
  const st = state();
  assert.match(st.datastore, /^etcds:\/\/10\.99\.0\.254:2379\?ca=.*\/pki\/ca\.pem&cert=.*\/pki\/admin\.pem&key=/);
  const etcd = st.processes.find((p) => p.role === "etcd");
  assert.ok(etcd, "the lab records its etcd");
  etcdPid = etcd.pid;
  assert.match(readFileSync(`/proc/${etcd.pid}/cmdline`, "utf8"), /etcd/);
  const agents = st.processes.filter((p) => p.role === "agent");
  assert.equal(agents.length, 2);
  // The agents really use etcd over the fabric: their Nodes are in it, read from the fabric.
  const nodes = await run("ip", ["netns", "exec", fabric, process.execPath, CLI, "get", "nodes", "--datastore", st.datastore]);
  assert.equal(nodes.code, 0, nodes.stderr);
  assert.match(nodes.stdout, /^h1\s*$/m);
  assert.match(nodes.stdout, /^h2\s*$/m);
  await checkPasses("after up");
  assert.deepEqual(await peersOfH1(), ["10.99.0.12"]);

  await t.test("etcd frozen for 30 s: traffic keeps flowing, routes stay, agents stay up", async () => {
    const before = await tabbyRoutes(`${name}-h1`);
    assert.ok(before.includes("via 10.99.0.12"), before);
    process.kill(etcd.pid, "SIGSTOP");
    const frozenAt = Date.now();
    try {
      for (const at of [5_000, 20_000]) {
        await sleep(Math.max(0, frozenAt + at - Date.now()));
        await checkPasses(`etcd frozen for ${at / 1000} s`);
        assert.equal(await tabbyRoutes(`${name}-h1`), before, "routes unchanged during the outage");
      }
      await sleep(Math.max(0, frozenAt + 30_000 - Date.now()));
      for (const a of agents) assert.ok(alive(a.pid), `agent ${a.name} survived the outage`);
    } finally {
      process.kill(etcd.pid, "SIGCONT");
    }
    await checkPasses("after etcd thawed");
    assert.deepEqual(await peersOfH1(), ["10.99.0.12"]);
    const log = readFileSync(join(root, name, "h1.log"), "utf8");
    assert.match(log, /datastore watch failed; will resync/, "the agent noticed the outage");
  });

  await t.test("a BGPPeer and a policy added during a network cut take effect once the cut heals", async () => {
    const cut = `table inet ttd2cut {
  chain input { type filter hook input priority 0; policy accept; iifname "br0" tcp dport 2379 drop; }
  chain output { type filter hook output priority 0; policy accept; oifname "br0" tcp sport 2379 drop; }
}
`;
    const nft = await run("ip", ["netns", "exec", fabric, "nft", "-f", "-"], { input: cut });
    assert.equal(nft.code, 0, nft.stderr);
    const peerFile = join(root, "peer.yaml");
    writeFileSync(
      peerFile,
      "apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata:\n  name: outage-peer\nspec:\n  node: h1\n  peerIP: 10.99.0.200\n  asNumber: 65001\n" +
        "---\napiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: outage-no-ping\nspec:\n  selector: all()\n  ingress:\n    - action: Deny\n      protocol: ICMP\n    - action: Deny\n      protocol: ICMPv6\n    - action: Allow\n",
    );
    // The operator is on the fabric (not cut off from etcd).
    const applied = await run("ip", ["netns", "exec", fabric, process.execPath, CLI, "apply", "-f", peerFile, "--datastore", st.datastore]);
    assert.equal(applied.code, 0, applied.stderr);
    await sleep(8_000);
    assert.deepEqual(await peersOfH1(), ["10.99.0.12"], "the agent cannot see the change during the cut");
    // The policy is in the datastore but not yet enforced: pings still get through (what lab
    // check reports as "should be blocked but got through"), TCP is as expected.
    const during = await lab("check", "-o", "json");
    const results = (JSON.parse(during.stdout) as { results: { protocol: string; observed: boolean; expected: boolean }[] }).results;
    assert.ok(
      results.filter((r) => r.protocol === "icmp").every((r) => r.observed && !r.expected),
      during.stdout.slice(0, 2000),
    );
    assert.ok(
      results.filter((r) => r.protocol === "tcp").every((r) => r.observed && r.expected),
      during.stdout.slice(0, 2000),
    );
    const heal = await run("ip", ["netns", "exec", fabric, "nft", "delete", "table", "inet", "ttd2cut"]);
    assert.equal(heal.code, 0, heal.stderr);
    const seen = await waitFor(async () => (await peersOfH1()).includes("10.99.0.200"), 60, 500);
    assert.ok(seen, `h1 did not pick up the new peer; peers ${await peersOfH1()}`);
    assert.deepEqual(await peersOfH1(), ["10.99.0.12", "10.99.0.200"]);
    // After the cut the policy is enforced: lab check passes with the pings blocked.
    let after = "";
    const enforced = await waitFor(
      async () => {
        const c = await lab("check");
        after = c.stdout;
        return c.code === 0;
      },
      20,
      1000,
    );
    assert.ok(enforced, after);
    assert.match(after, /12 of 12 checks as expected \(8 should reach, 4 should be blocked\)/);
    for (const a of agents) assert.ok(alive(a.pid), `agent ${a.name} still running`);
  });

  const down = await lab("down");
  assert.equal(down.code, 0, down.stderr);
  assert.equal(await waitFor(async () => !alive(etcd.pid), 50), true, "lab down stops etcd");
  etcdPid = undefined;
});
