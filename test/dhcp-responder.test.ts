/**
 * The agent's DHCP responder on a real interface (issue 20): the service in a "host" namespace
 * behind a veth, busybox udhcpc in the "guest" namespace. The client gets the workload's address
 * as a /32 with option 121's routes (the gateway on-link, the default through it), the MTU, DNS
 * and domain; another MAC on the same link gets nothing; and the socket's BPF filter keeps every
 * other packet (pings, UDP to other ports) out of the process (its counters stay at zero).
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, chmodSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "./helpers.js";

const tag = `tdh${process.pid % 100000}`;
const HOST = `${tag}-host`;
const GUEST = `${tag}-guest`;
const WORKER = new URL("./dhcp-responder-worker.js", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "tabby-dhcp-"));
const ip = (...a: string[]) => run("ip", a);

after(async () => {
  await ip("netns", "del", HOST);
  await ip("netns", "del", GUEST);
  rmSync(dir, { recursive: true, force: true });
});

test("DHCPv4 to busybox udhcpc over a veth, and nothing but requests reaches the responder", { timeout: 60_000 }, async () => {
  for (const ns of [HOST, GUEST]) assert.equal((await ip("netns", "add", ns)).code, 0);
  assert.equal((await ip("-n", HOST, "link", "add", "tapt1", "mtu", "1400", "type", "veth", "peer", "name", "eth0", "netns", GUEST)).code, 0);
  await ip("-n", GUEST, "link", "set", "eth0", "address", "52:54:00:00:00:31");
  for (const [ns, dev] of [
    [HOST, "tapt1"],
    [GUEST, "eth0"],
    [GUEST, "lo"],
  ] as const)
    await ip("-n", ns, "link", "set", dev, "up");
  // the host side as the agent sets a workload interface: proxy ARP answers for 169.254.1.1
  await run("ip", ["netns", "exec", HOST, "sysctl", "-qw", "net.ipv4.conf.tapt1.proxy_arp=1", "net.ipv4.neigh.tapt1.proxy_delay=0"]);

  const worker = spawn("ip", ["netns", "exec", HOST, process.execPath, WORKER, "tapt1", "52:54:00:00:00:31", "10.65.7.9/32", "fd65::7:9/128"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  worker.stdout.on("data", (d: Buffer) => (out += d.toString()));
  after(() => worker.kill("SIGKILL"));
  for (let i = 0; i < 100 && !out.includes("ready"); i++) await new Promise((r) => setTimeout(r, 100));
  assert.match(out, /ready/);

  // noise first: none of it may reach the responder's process
  await run("ip", ["netns", "exec", GUEST, "ping", "-6", "-c", "2", "-W", "1", "-I", "eth0", "ff02::1"]);
  await run("ip", ["netns", "exec", GUEST, "sh", "-c", "echo x | busybox nc -u -w 1 255.255.255.255 9999; true"]);

  const script = join(dir, "udhcpc.script");
  writeFileSync(
    script,
    `#!/bin/sh\n[ "$1" = bound ] && env | grep -E '^(ip|mask|router|staticroutes|mtu|dns|domain|serverid|lease)=' | sort > ${join(dir, "lease")}\nexit 0\n`,
  );
  chmodSync(script, 0o755);
  const r = await run("ip", [
    "netns",
    "exec",
    GUEST,
    "busybox",
    "udhcpc",
    "-i",
    "eth0",
    "-f",
    "-q",
    "-n",
    "-t",
    "5",
    "-T",
    "1",
    "-s",
    script,
    "-O",
    "staticroutes",
    "-O",
    "mtu",
    "-O",
    "domain",
  ]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.deepEqual(readFileSync(join(dir, "lease"), "utf8").trim().split("\n"), [
    "dns=192.0.2.53",
    "domain=vms.example",
    "ip=10.65.7.9",
    "lease=600",
    "mask=32",
    "mtu=1400",
    "router=169.254.1.1",
    "serverid=169.254.1.1",
    "staticroutes=169.254.1.1/32 0.0.0.0 0.0.0.0/0 169.254.1.1",
  ]);

  // another MAC on the tap is not answered
  await ip("-n", GUEST, "link", "set", "eth0", "address", "52:54:00:00:00:99");
  const other = await run("ip", ["netns", "exec", GUEST, "busybox", "udhcpc", "-i", "eth0", "-f", "-q", "-n", "-t", "2", "-T", "1", "-s", script]);
  assert.notEqual(other.code, 0, "no lease for a MAC the endpoint does not have");

  worker.kill("SIGTERM");
  await new Promise((r) => worker.once("close", r));
  const stats = JSON.parse(out.trim().split("\n").pop()!) as { answered: number; ignored: number; malformed: number; seen: { msg: string; from?: string }[] };
  assert.ok(stats.answered >= 2, "an OFFER and an ACK (an OFFER more when the client asked again)");
  assert.equal(stats.malformed, 0);
  // the other MAC's DISCOVERs reach the process (they are requests) and are not answered; the
  // pings and the UDP to port 9999 (from the first MAC) never do
  const notAnswered = stats.seen.filter((x) => x.msg === "a request not answered");
  assert.ok(notAnswered.length >= 1 && notAnswered.length === stats.ignored, JSON.stringify(stats));
  assert.deepEqual([...new Set(notAnswered.map((x) => x.from))], ["52:54:00:00:00:99"], JSON.stringify(stats));
});
