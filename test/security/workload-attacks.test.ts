/**
 * The attack suite (issue #19): a hostile workload in a real lab (2 hosts, 2 workloads each,
 * etcd in the fabric as the issue's reproduction had it) tries to reach the control plane and
 * to pass for someone else. Each attack runs from inside h1-w1 (test/security/attacker.ts) and
 * asserts that nothing got in and nothing changed: no BGP OPEN comes back, no route appears in
 * h2's kernel, the BGP session between the hosts stays as it was, BFD never arrives, the
 * datastore and every port the hosts listen on are closed, spoofed sources never leave h1,
 * ARP/ND claims for a neighbour's address do not redirect its traffic, and a flood of new
 * connections leaves conntrack, the agent and the routes healthy. The hosts' own session runs GTSM
 * (RFC 5082, the default between nodes on one subnet): every segment arrives with TTL 255.
 *
 * On the tree before the workload → control-plane drop (issue #19), the impersonation with the
 * agent down and the datastore reach fail here: natOutgoing masqueraded the workload to h1's
 * address and nothing dropped it.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { run, tabby, waitFor } from "../helpers.js";
import { controlPlanePorts } from "../../src/calc/policy-output.js";

const name = `sa${process.pid % 100000}`;
const root = mkdtempSync(join(tmpdir(), "secdp-lab-"));
const env = { TABBY_LAB_ROOT: root };
const lab = (...args: string[]) => tabby(["lab", ...args, "--name", name], env);
const ATTACKER = fileURLToPath(new URL("./attacker.js", import.meta.url));
const H1 = "10.99.0.11";
const H2 = "10.99.0.12";
const ETCD = "10.99.0.254";
const ns = (n: string) => `${name}-${n}`;

before(async () => {
  const r = await lab("up", "--hosts", "2", "--workloads", "2", "--datastore", "etcd");
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.ok(await established(), "h1 and h2 peer");
});

after(async () => {
  await lab("down");
  rmSync(root, { recursive: true, force: true });
});

async function attack(from: string, ...args: string[]): Promise<Record<string, unknown>> {
  const r = await run("ip", ["netns", "exec", ns(from), process.execPath, ATTACKER, ...args]);
  assert.equal(r.code, 0, `attacker ${args.join(" ")}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").at(-1)!) as Record<string, unknown>;
}
const sh = async (netns: string, ...cmd: string[]) => (await run("ip", ["netns", "exec", netns, ...cmd])).stdout;
const addrs = async (wl: string, fam: 4 | 6) =>
  (
    JSON.parse(await sh(ns(wl), "ip", "-j", `-${fam}`, "addr", "show", "dev", "eth0", "scope", "global")) as { addr_info: { local: string }[] }[]
  )[0]!.addr_info.map((a) => a.local);

interface LabState {
  processes: { role: string; name: string; pid: number }[];
}
const labState = () => JSON.parse(readFileSync(join(root, name, "state.json"), "utf8")) as LabState;

async function peers(host: string): Promise<{ address: string; state: string }[] | undefined> {
  const r = await tabby(["lab", "exec", "--name", name, host, "--", "tabby", "node", "status", "-o", "json"], env);
  return r.code === 0 ? (JSON.parse(r.stdout) as { address: string; state: string }[]) : undefined;
}
const established = () => waitFor(async () => (await peers("h2"))?.some((p) => p.address === H1 && p.state === "Established") ?? false, 150);
const routes = async (host: string) =>
  (await sh(ns(host), "ip", "route", "show", "proto", "152")) + (await sh(ns(host), "ip", "-6", "route", "show", "proto", "152"));
const hijacked = async () => (await sh(ns("h2"), "ip", "route", "show", "8.8.8.0/24")).trim();

/** A counting table of the test's own in a namespace (tabby touches only `inet tabby`). */
async function counter(netns: string, rules: string[]): Promise<() => Promise<number[]>> {
  const t = `table inet sectest {\n chain c {\n type filter hook input priority 0; policy accept;\n${rules.map((r) => ` ${r} counter\n`).join("")} }\n}\n`;
  await run("ip", ["netns", "exec", netns, "nft", "delete", "table", "inet", "sectest"]);
  const r = await run("ip", ["netns", "exec", netns, "nft", "-f", "-"], { input: t });
  assert.equal(r.code, 0, r.stderr);
  return async () => [...(await sh(netns, "nft", "list", "table", "inet", "sectest")).matchAll(/packets (\d+)/g)].map((m) => Number(m[1]));
}

test("BGP impersonation with h1's agent killed, graceful restart on (the default): no OPEN back, no route in h2", { timeout: 120_000 }, async () => {
  const agent = labState().processes.find((p) => p.role === "agent" && p.name === "h1")!;
  assert.match(await routes("h2"), /via 10\.99\.0\.11/, "h2 has h1's routes");
  process.kill(agent.pid, "SIGKILL"); // a crash: the lab recorded this pid as h1's agent
  await sleep(1000);
  try {
    // graceful restart (RFC 4724) is on: h2 keeps h1's routes while h1 is away, which is the
    // window an impostor speaking for h1 would want to use
    assert.match(await routes("h2"), /via 10\.99\.0\.11/, "h2 keeps h1's routes (graceful restart helper)");
    const got = await attack("h1-w1", "bgp", H2, "179", "64512", H1, H1, "8.8.8.0/24");
    assert.ok(!(got.received as string[]).includes("open"), `h2 answered the impostor: ${JSON.stringify(got)}`);
    await sleep(1000);
    assert.equal(await hijacked(), "", "a hijacked route in h2's kernel");
  } finally {
    const r = await lab("restart", "h1");
    assert.equal(r.code, 0, r.stderr);
  }
  assert.ok(await established(), "h1 is back");
});

test("BGP impersonation with h1's agent up: no OPEN back, no route, the real session untouched", { timeout: 60_000 }, async () => {
  assert.ok(await established());
  const before = await routes("h2");
  const got = await attack("h1-w1", "bgp", H2, "179", "64512", H1, H1, "8.8.8.0/24");
  assert.ok(!(got.received as string[]).includes("open"), JSON.stringify(got));
  const own = await attack("h1-w1", "bgp", H1, "179", "64512", H2, H2, "8.8.8.0/24");
  assert.ok(!(own.received as string[]).includes("open"), `own host answered: ${JSON.stringify(own)}`);
  assert.equal(await hijacked(), "");
  assert.ok((await peers("h2"))!.some((p) => p.address === H1 && p.state === "Established"));
  assert.equal(await routes("h2"), before);
});

test("the datastore cannot be reached from a workload", { timeout: 60_000 }, async () => {
  const got = await attack("h1-w1", "tcp", ETCD, "2379,2380");
  assert.deepEqual(got, { 2379: false, 2380: false });
  const curl = await attack("h1-w1", "read", ETCD, "2379");
  assert.equal(curl.data, "");
});

test("no port the hosts listen on, nor any control-plane port, answers a workload (hosts and gateway)", { timeout: 120_000 }, async () => {
  const listening = new Set<number>(
    controlPlanePorts([])
      .filter((p) => p.protocol === "tcp")
      .map((p) => p.port),
  );
  for (const h of ["h1", "h2"]) {
    for (const line of (await sh(ns(h), "ss", "-Hltn")).split("\n")) {
      const m = /:(\d+)\s/.exec(line.split(/\s+/)[3] + " ");
      if (m) listening.add(Number(m[1]));
    }
  }
  assert.ok(listening.has(179), "the agents' BGP port is among them");
  const ports = [...listening].sort((a, b) => a - b).join(",");
  for (const target of [H1, H2, "fd99::b", "fd99::c", "169.254.1.1"]) {
    const got = await attack("h1-w1", "tcp", target, ports);
    assert.deepEqual(
      Object.entries(got).filter(([, ok]) => ok),
      [],
      `reachable on ${target}`,
    );
  }
  // BFD: counted where it would arrive; nothing does.
  const c1 = await counter(ns("h1"), ["udp dport { 3784, 3785, 4784, 4785 }"]);
  const c2 = await counter(ns("h2"), ["udp dport { 3784, 3785, 4784, 4785 }"]);
  for (const [host, port] of [
    [H1, "3784"],
    [H2, "3784"],
    [H2, "4784"],
    ["169.254.1.1", "3784"],
    [H1, "4785"],
  ] as const)
    await attack("h1-w1", "udp", host, port);
  await sleep(500);
  assert.deepEqual([...(await c1()), ...(await c2())], [0, 0], "a spoofed BFD packet arrived");
  // The counters count: the same packet from the fabric (not a workload) arrives.
  await run("ip", ["netns", "exec", ns("fabric"), process.execPath, ATTACKER, "udp", H2, "3784"]);
  await sleep(300);
  assert.deepEqual(await c2(), [1], "the control packet from the fabric");
});

test("source-address spoofing (v4 and v6) never leaves the host", { timeout: 60_000 }, async () => {
  const victim4 = (await addrs("h2-w1", 4))[0]!;
  const victim6 = (await addrs("h2-w1", 6))[0]!;
  const count = await counter(ns("fabric"), ["udp dport 9 ip saddr != 10.99.0.11", "udp dport 9 ip saddr 10.99.0.11", "udp dport 9 meta nfproto ipv6"]);
  const added: [string, string][] = [
    [`${victim4}/32`, "4"],
    ["192.0.2.66/32", "4"],
    [`${victim6}/128`, "6"],
  ];
  for (const [a, f] of added) await run("ip", ["-n", ns("h1-w1"), `-${f}`, "addr", "add", a, "dev", "eth0", ...(f === "6" ? ["nodad"] : [])]);
  try {
    await attack("h1-w1", "udp", "10.99.0.254", "9", victim4);
    await attack("h1-w1", "udp", "10.99.0.254", "9", "192.0.2.66");
    await attack("h1-w1", "udp", "fd99::fe", "9", victim6);
    await attack("h1-w1", "udp", "10.99.0.254", "9"); // the control: its own address, masqueraded
    await sleep(500);
    assert.deepEqual(await count(), [0, 1, 0], "only the workload's own packet reached the fabric");
  } finally {
    for (const [a, f] of added) await run("ip", ["-n", ns("h1-w1"), `-${f}`, "addr", "del", a, "dev", "eth0"]);
  }
});

test("ARP and ND claims for a neighbour's address do not redirect its traffic", { timeout: 60_000 }, async () => {
  const v4 = (await addrs("h1-w2", 4))[0]!;
  const v6 = (await addrs("h1-w2", 6))[0]!;
  const iface = "eth0";
  await attack("h1-w1", "arp", iface, v4);
  await attack("h1-w1", "na", iface, v6);
  await sleep(300);
  for (const dst of [v4, v6]) {
    for (const from of ["h2-w1", "h1-w2"]) {
      if (from === "h1-w2") continue;
      const got = await attack(from, "read", dst, "80");
      assert.equal(got.data, "h1-w2\n", `${from} → ${dst} answered by ${JSON.stringify(got.data)}`);
    }
  }
  // And from the victim's own host.
  const r = await run("ip", ["netns", "exec", ns("h1"), process.execPath, ATTACKER, "read", v4, "80"]);
  assert.equal(JSON.parse(r.stdout).data, "h1-w2\n");
});

test("a flood of new connections leaves conntrack, the agent and the routes healthy", { timeout: 240_000 }, async () => {
  const before = await routes("h1");
  const ct = async () => Number((await sh(ns("h1"), "cat", "/proc/sys/net/netfilter/nf_conntrack_count")).trim());
  const max = Number((await sh(ns("h1"), "cat", "/proc/sys/net/netfilter/nf_conntrack_max")).trim());
  const ct0 = await ct();
  const dropped = await attack("h1-w1", "flood", H2, "179", "1500");
  assert.deepEqual(dropped, { attempted: 1500, connected: 0 });
  assert.ok((await ct()) - ct0 < 100, "dropped before conntrack: no entries for the flood to BGP");
  const victim = (await addrs("h2-w1", 4))[0]!;
  const allowed = await attack("h1-w1", "flood", victim, "80", "3000");
  assert.equal(allowed.attempted, 3000);
  assert.ok((allowed.connected as number) >= 2700, `allowed connections got through: ${JSON.stringify(allowed)}`);
  assert.ok((await ct()) < max, "conntrack not full");
  const p = await peers("h1");
  assert.ok(
    p?.some((x) => x.address === H2 && x.state === "Established"),
    `h1's agent: ${JSON.stringify(p)}`,
  );
  assert.equal(await routes("h1"), before, "routes intact");
  assert.equal((await attack("h2-w1", "read", (await addrs("h1-w2", 4))[0]!, "80")).data, "h1-w2\n", "traffic still flows");
});

test("workloadControlPlaneAccessSelector lets a chosen workload reach h2's BGP port, as itself, and nothing else", { timeout: 120_000 }, async () => {
  const file = join(root, "felix.yaml");
  const felix = (sel: string) =>
    `apiVersion: projectcalico.org/v3\nkind: FelixConfiguration\nmetadata:\n  name: default\nspec:\n  workloadControlPlaneAccessSelector: "${sel}"\n`;
  const apply = async (yaml: string) => {
    writeFileSync(file, yaml);
    const r = await tabby(["lab", "exec", "--name", name, "h1", "--", "tabby", "apply", "-f", file], env);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  };
  const reaches = async (wl: string) => (await attack(wl, "tcp", H2, "179"))["179"] === true;
  await apply(felix("host == 'h1' && app == 'w2'"));
  assert.ok(await waitFor(() => reaches("h1-w2"), 30), "the chosen workload gets through");
  assert.equal(await reaches("h1-w1"), false, "the others do not");
  // Through, but as itself: no masquerade to h1's address, so h2 does not take it for h1.
  const got = await attack("h1-w2", "bgp", H2, "179", "64512", H1, H1, "8.8.8.0/24");
  assert.ok(!(got.received as string[]).includes("open"), JSON.stringify(got));
  assert.equal(await hijacked(), "");
  await apply(felix("has(nothing)"));
  assert.ok(await waitFor(async () => !(await reaches("h1-w2")), 30), "closed again");
});

test("the mesh session between the hosts runs GTSM: every BGP segment from h1 arrives at h2 with TTL 255", { timeout: 60_000 }, async () => {
  assert.ok(await established(), "h1 and h2 peer");
  const count = await counter(ns("h2"), [
    `ip saddr ${H1} tcp sport 179 ip ttl 255`,
    `ip saddr ${H1} tcp dport 179 ip ttl 255`,
    `ip saddr ${H1} tcp sport 179 ip ttl != 255`,
    `ip saddr ${H1} tcp dport 179 ip ttl != 255`,
  ]);
  // KEEPALIVEs every 3 s with the lab's 9 s hold time
  assert.ok(
    await waitFor(async () => {
      const [a, b] = await count();
      return a! + b! >= 2;
    }, 50),
    "BGP segments with TTL 255",
  );
  const [, , c, d] = await count();
  assert.equal(c! + d!, 0, "no BGP segment from h1 with another TTL");
  await run("ip", ["netns", "exec", ns("h2"), "nft", "delete", "table", "inet", "sectest"]);
});
