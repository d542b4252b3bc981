/**
 * VMs as workloads, end to end (issue 20): `lab up --vms 1` boots a QEMU VM per host on a tap
 * (TCG when KVM does not work here); the VM learns its addresses from the host's agent by DHCP,
 * RA and DHCPv6 only; VMs and containers on different hosts reach each other over IPv4 and IPv6
 * (`lab check`, both directions); a policy selecting the VMs' labels blocks and allows as
 * written; a spoofed source from inside a VM is dropped; `workload add`/`delete` for a tap leaves
 * nothing behind (`tabby ipam check` clean, the host route gone); `lab down` stops the VMs.
 * One lab for the whole file (a TCG boot costs tens of seconds).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { alive, labUnderTest, run, tabby, waitFor } from "./helpers.js";
import { vmShell } from "../src/vm/serial-shell.js";

const { name, env, lab, checkPasses } = labUnderTest("tv", "tabby-lab-vms-");

interface Status {
  workloads: { name: string; kind: string; host: string; namespace: string; ipv4: string; ipv6: string; interface: string; pid?: number }[];
}
const LAB_STATE = () =>
  JSON.parse(readFileSync(join(env.TABBY_LAB_ROOT, name, "state.json"), "utf8")) as { workloads: { name: string; shell?: string; console?: string }[] };
const shellOf = (vm: string) => LAB_STATE().workloads.find((w) => w.name === vm)!.shell!;
const consoleOf = (vm: string) => readFileSync(LAB_STATE().workloads.find((w) => w.name === vm)!.console!, "utf8");

let status: Status;

/** A command in a VM until its output is `want` (a slow guest's probe may time out once). */
async function vmUntil(vm: string, cmd: string, want: string): Promise<string> {
  let out = "";
  await waitFor(async () => (out = (await vmShell(shellOf(vm), cmd, 60_000)).output.replace(/\s+/g, " ").trim()) === want, 5, 1000);
  return out;
}
const wl = (n: string) => status.workloads.find((w) => w.name === n)!;

test("lab up --vms 1: a VM per host, listed as kind vm", { timeout: 600_000 }, async () => {
  const up = await lab("up", "--hosts", "2", "--workloads", "1", "--vms", "1");
  assert.equal(up.code, 0, up.stdout + up.stderr);
  const st = await lab("status", "-o", "json");
  status = JSON.parse(st.stdout) as Status;
  const vms = status.workloads.filter((w) => w.kind === "vm");
  assert.deepEqual(
    vms.map((w) => [w.name, w.host, w.interface]),
    [
      ["h1-vm1", "h1", "taph1vm1"],
      ["h2-vm1", "h2", "taph2vm1"],
    ],
  );
  for (const v of vms) assert.ok(v.pid && alive(v.pid), `${v.name}'s QEMU runs`);
  assert.deepEqual(
    status.workloads.filter((w) => w.kind === "container").map((w) => w.name),
    ["h1-w1", "h2-w1"],
  );
});

test("the VM took its addresses from DHCP and DHCPv6, not from its command line", { timeout: 120_000 }, async () => {
  const vm = wl("h1-vm1");
  const con = consoleOf("h1-vm1");
  assert.match(con, new RegExp(`udhcpc: lease of ${vm.ipv4.replace(/\./g, "\\.")} obtained from 169\\.254\\.1\\.1`));
  assert.match(
    con,
    new RegExp(`dhcp4 ${vm.ipv4.replace(/\./g, "\\.")}/32 mtu=\\d+ routes=169\\.254\\.1\\.1/32 0\\.0\\.0\\.0 0\\.0\\.0\\.0/0 169\\.254\\.1\\.1`),
    "option 121: the gateway on-link, then the default through it",
  );
  const sh = shellOf("h1-vm1");
  const cmdline = await vmShell(sh, "cat /proc/cmdline");
  assert.ok(!cmdline.output.includes(vm.ipv4) && !cmdline.output.includes("ip="), cmdline.output);
  const a6 = await vmShell(sh, "ip -6 addr show dev eth0 scope global; ip -6 route show default");
  assert.match(a6.output, new RegExp(`inet6 ${vm.ipv6}/128 scope global (tentative )?dynamic`), "DHCPv6 gave the IPAM address, a /128 with a lifetime");
  assert.match(a6.output, /default via fe80::\S+ dev eth0/, "the router advertisement gave the default route");
  const r4 = await vmShell(sh, "ip -4 route");
  assert.match(r4.output, /default via 169\.254\.1\.1 dev eth0/);
  // `lab exec` runs in the guest, not in its host's namespace
  const ex = await tabby(["lab", "exec", "--name", name, "h1-vm1", "--", "cat", "/proc/sys/kernel/hostname"], env);
  assert.equal(ex.code, 0, ex.stderr);
  assert.equal(ex.stdout.trim(), "h1-vm1");
});

test("VMs and containers on different hosts reach each other over IPv4 and IPv6", { timeout: 600_000 }, async () => {
  const out = await checkPasses();
  assert.match(out, /72 of 72 checks as expected/);
  // and directly: the VM on h1 to the container on h2, v4 and v6, by TCP (the name answers)
  for (const addr of [wl("h2-w1").ipv4, wl("h2-w1").ipv6]) assert.equal(await vmUntil("h1-vm1", `nc -w 5 ${addr} 8080 </dev/null`, "h2-w1"), "h2-w1", addr);
});

const VM_POLICY = `
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: { name: vms-web-only }
spec:
  selector: kind == 'vm'
  types: [Ingress]
  ingress:
    - action: Allow
      protocol: TCP
      destination: { ports: [8080] }
    - action: Allow
      protocol: ICMP
    - action: Allow
      protocol: ICMPv6
`;

test("a policy selecting the VMs' labels blocks and allows as written", { timeout: 900_000 }, async () => {
  const file = join(env.TABBY_LAB_ROOT, "vm-policy.yaml");
  writeFileSync(file, VM_POLICY);
  const applied = await tabby(["apply", "-f", file], env);
  assert.equal(applied.code, 0, applied.stderr);
  const out = await checkPasses();
  assert.match(out, /should be blocked/);
  // TCP 80 to a VM is blocked now, 8080 still answers; the containers are not selected
  const sh = shellOf("h2-vm1");
  const to80 = await vmShell(sh, `nc -w 2 ${wl("h1-vm1").ipv4} 80 </dev/null 2>/dev/null; nc -w 2 ${wl("h1-vm1").ipv6} 80 </dev/null 2>/dev/null; echo done`);
  assert.equal(to80.output.trim(), "done", "TCP 80 to the VM is dropped on both families");
  assert.equal(
    await vmUntil("h2-vm1", `nc -w 5 ${wl("h1-vm1").ipv4} 8080 </dev/null; nc -w 5 ${wl("h1-vm1").ipv6} 8080 </dev/null`, "h1-vm1 h1-vm1"),
    "h1-vm1 h1-vm1",
  );
  assert.equal(await vmUntil("h2-vm1", `nc -w 5 ${wl("h1-w1").ipv4} 80 </dev/null`, "h1-w1"), "h1-w1", "the containers are not selected");
  const del = await tabby(["delete", "globalnetworkpolicy", "vms-web-only"], env);
  assert.equal(del.code, 0, del.stderr);
  await checkPasses();
});

test("a spoofed source from inside a VM is dropped", { timeout: 120_000 }, async () => {
  const sh = shellOf("h1-vm1");
  const vm = wl("h1-vm1");
  const target4 = wl("h2-w1").ipv4;
  const target6 = wl("h2-w1").ipv6;
  // counters at the receiving container (its namespace is the lab's): what arrives from where
  const dst = wl("h2-w1").namespace;
  const nft = (script: string) => run("ip", ["netns", "exec", dst, "nft", "-f", "-"], { input: script });
  const watch = `table inet spoofwatch {
    chain pre { type filter hook prerouting priority -400; policy accept;
      ip saddr ${vm.ipv4} icmp type echo-request counter
      ip saddr ${wl("h1-w1").ipv4} icmp type echo-request counter
      ip saddr 10.65.250.250 icmp type echo-request counter
      ip6 saddr ${vm.ipv6} icmpv6 type echo-request counter
      ip6 saddr fd65::99 icmpv6 type echo-request counter
    }
  }`;
  assert.equal((await nft(watch)).code, 0);
  assert.equal(
    await vmUntil("h1-vm1", `ping -c 1 -W 3 ${target4} >/dev/null && echo ok4; ping -6 -c 1 -W 3 ${target6} >/dev/null && echo ok6`, "ok4 ok6"),
    "ok4 ok6",
    "its own addresses pass",
  );
  // the container's address on the same host, and an unallocated one of the pool
  await vmShell(
    sh,
    `for a in ${wl("h1-w1").ipv4} 10.65.250.250; do ip addr add $a/32 dev eth0; ping -c 2 -W 1 -I $a ${target4} >/dev/null; ip addr del $a/32 dev eth0; done; echo end`,
  );
  await vmShell(
    sh,
    `echo 0 > /proc/sys/net/ipv6/conf/eth0/accept_dad; ip -6 addr add fd65::99/128 dev eth0; ping -6 -c 2 -W 1 -I fd65::99 ${target6} >/dev/null; ip -6 addr del fd65::99/128 dev eth0; echo end`,
  );
  const listed = (await run("ip", ["netns", "exec", dst, "nft", "list", "table", "inet", "spoofwatch"])).stdout;
  const counts = [...listed.matchAll(/saddr (\S+) .*counter packets (\d+)/g)].map((m) => [m[1], Number(m[2])]);
  assert.deepEqual(
    counts.map(([a, n]) => [a, (n as number) > 0]),
    [
      [vm.ipv4, true],
      [wl("h1-w1").ipv4, false],
      ["10.65.250.250", false],
      [vm.ipv6, true],
      ["fd65::99", false],
    ],
    listed,
  );
  await run("ip", ["netns", "exec", dst, "nft", "delete", "table", "inet", "spoofwatch"]);
});

test("workload add and delete for a tap leave nothing behind", { timeout: 120_000 }, async () => {
  const ns = `${name}-h1`;
  assert.equal((await run("ip", ["-n", ns, "tuntap", "add", "dev", "tapextra", "mode", "tap"])).code, 0);
  assert.equal((await run("ip", ["-n", ns, "link", "set", "tapextra", "up"])).code, 0);
  const add = await tabby(
    ["workload", "add", "--interface", "tapextra", "--name", "extra", "--namespace", "lab", "--node", "h1", "--labels", "app=extra", "-o", "json"],
    env,
  );
  assert.equal(add.code, 0, add.stderr);
  const { addresses } = JSON.parse(add.stdout) as { addresses: string[] };
  assert.equal(addresses.length, 2);
  const routed = () => run("ip", ["-n", ns, "route", "show", `${addresses[0]}/32`]);
  assert.ok(await waitFor(async () => (await routed()).stdout.includes("dev tapextra"), 50), "the agent routes the VM's address onto its tap");
  const del = await tabby(["workload", "delete", "--name", "extra", "--namespace", "lab"], env);
  assert.equal(del.code, 0, del.stderr);
  assert.match(del.stdout, /released 2 address/);
  const check = await tabby(["ipam", "check"], env);
  assert.equal(check.code, 0, check.stdout + check.stderr);
  assert.ok(await waitFor(async () => !(await routed()).stdout.includes("tapextra"), 50), "the route goes with the endpoint");
  const weps = await tabby(["get", "workloadendpoints", "-n", "lab", "-o", "json"], env);
  assert.ok(!weps.stdout.includes("tapextra"), weps.stdout);
  await run("ip", ["-n", ns, "link", "del", "tapextra"]);
});

test("lab down stops the VMs", { timeout: 120_000 }, async () => {
  const pids = status.workloads.filter((w) => w.kind === "vm").map((w) => w.pid!);
  const down = await lab("down");
  assert.equal(down.code, 0, down.stderr);
  for (const p of pids) assert.equal(alive(p), false, `QEMU ${p} stopped`);
});
