/**
 * Policy in the lab, end to end, IPv4 and IPv6: policies applied while the lab runs are
 * enforced by every host's nftables within moments, and `lab check` (which compares every
 * probe with an independent evaluation of the policies) passes after each step. Also: a
 * spoofed source is dropped; a host endpoint blocks traffic to its host except failsafe ports
 * (so BGP stays up); an agent killed with SIGKILL and restarted keeps an open TCP connection.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { labUnderTest, run, tabby, waitFor } from "./helpers.js";
import { DEFAULT_DENY } from "./lab-scenarios.js";

const { name, env, lab } = labUnderTest("tp", "tabby-lab-policy-");
const dir = env.TABBY_LAB_ROOT;

function manifest(file: string, yaml: string): string {
  const path = join(dir, file);
  writeFileSync(path, yaml);
  return path;
}

interface Status {
  hosts: { name: string; namespace: string; ipv4: string; agentPid: number }[];
  workloads: { name: string; host: string; namespace: string; ipv4: string; ipv6: string; interface: string }[];
}

/**
 * `lab check` until it passes (enforcement follows a change within moments; each check runs 180
 * probes, so on a loaded machine a few attempts may pass before the change lands), at most ~40 s.
 */
async function checkPasses(): Promise<string> {
  let last = "";
  const ok = await waitFor(
    async () => {
      const r = await lab("check");
      last = r.stdout + r.stderr;
      return r.code === 0;
    },
    20,
    1000,
  );
  if (!ok) last += await setsDiagnosis();
  assert.ok(ok, last);
  return last;
}

/** On failure: each host's tabby set elements, to tell a membership bug from a rule bug. */
async function setsDiagnosis(): Promise<string> {
  let out = "\n--- tabby sets per host ---\n";
  for (const h of ["h1", "h2", "h3"]) {
    const r = await run("ip", ["netns", "exec", `${name}-${h}`, "nft", "list", "table", "inet", "tabby"]);
    const sets = r.stdout
      .split("\n")
      .filter((l) => /^\s*(set |elements)/.test(l))
      .join("\n");
    out += `${h}:\n${sets.slice(0, 3000)}\n`;
  }
  return out;
}

const TIERS = `
apiVersion: projectcalico.org/v3
kind: Tier
metadata: { name: security }
spec: { order: 100 }
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: { name: security.quarantine-h3 }
spec:
  tier: security
  order: 10
  selector: host == 'h3'
  types: [Ingress, Egress]
  ingress:
    - action: Pass
      source: { selector: host == 'h1' }
    - action: Deny
  egress:
    - action: Pass
      destination: { selector: host == 'h1' }
    - action: Deny
`;

const EGRESS_CIDR = `
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: { name: ipv6-pool, labels: { role: v6-pool } }
spec: { nets: ["fd65::/48"] }
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: { name: w1-no-ipv6 }
spec:
  order: 5
  selector: app == 'w1'
  types: [Egress]
  egress:
    - action: Deny
      destination: { selector: role == 'v6-pool' }
    - action: Deny
      protocol: ICMP
      destination: { nets: ["10.65.0.0/16"] }
    - action: Allow
`;

test("lab policy: default deny + allow by label on a named port, tiers with Pass, egress deny to a network set and a CIDR", { timeout: 600_000 }, async (t) => {
  const up = await lab("up", "--hosts", "3", "--workloads", "2", "--policy", manifest("deny.yaml", DEFAULT_DENY));
  assert.equal(up.code, 0, up.stdout + up.stderr);
  const status = JSON.parse((await lab("status", "-o", "json")).stdout) as Status;

  await t.test("default deny with one allowed flow", async () => {
    const out = await checkPasses();
    assert.match(out, /should be blocked/);
    // w1 → w2 on 8080 (the named port) reaches; on 80 it does not.
    assert.doesNotMatch(out, /; \d+ not$/m);
  });

  await t.test("tiers with Pass", async () => {
    const r = await tabby(["apply", "-f", manifest("tiers.yaml", TIERS)], env);
    assert.equal(r.code, 0, r.stderr);
    await checkPasses();
  });

  await t.test("egress deny to a GlobalNetworkSet and to a CIDR", async () => {
    const r = await tabby(["delete", "-f", manifest("deny2.yaml", DEFAULT_DENY)], env);
    assert.equal(r.code, 0, r.stderr);
    const a = await tabby(["apply", "-f", manifest("egress.yaml", EGRESS_CIDR)], env);
    assert.equal(a.code, 0, a.stderr);
    await checkPasses();
  });

  await t.test("a spoofed source address from a workload is dropped", async () => {
    // h1-w2 (app w2) may ping h2-w1 under the policies in force now.
    const w1 = status.workloads.find((w) => w.name === "h1-w2")!;
    const w2 = status.workloads.find((w) => w.name === "h2-w1")!;
    // Give the workload a second address that is not its own, and make the way back for it
    // exist (static routes, which tabby leaves alone), so only anti-spoofing can stop it.
    const spoof = "10.65.250.250";
    await run("ip", ["-n", w1.namespace, "addr", "add", `${spoof}/32`, "dev", "eth0"]);
    await run("ip", ["-n", `${name}-h1`, "route", "add", `${spoof}/32`, "dev", w1.interface, "proto", "static"]);
    await run("ip", ["-n", `${name}-h2`, "route", "add", `${spoof}/32`, "via", "10.99.0.11", "proto", "static"]);
    const genuine = await run("ip", ["netns", "exec", w1.namespace, "ping", "-c", "1", "-W", "2", w2.ipv4]);
    assert.equal(genuine.code, 0, `${w1.name} reaches ${w2.name} from its own address`);
    const spoofed = await run("ip", ["netns", "exec", w1.namespace, "ping", "-c", "2", "-W", "1", "-I", spoof, w2.ipv4]);
    assert.notEqual(spoofed.code, 0, "a packet from a spoofed source must be dropped at w1's host");
  });

  await t.test("an agent killed with SIGKILL and restarted: an open TCP connection survives", async () => {
    const w1 = status.workloads.find((w) => w.name === "h1-w1")!;
    const w2 = status.workloads.find((w) => w.name === "h2-w2")!;
    const server = spawn(
      "ip",
      [
        "netns",
        "exec",
        w2.namespace,
        process.execPath,
        "-e",
        "require('net').createServer((s) => s.pipe(s)).listen(9000, '::', () => console.log('listening'))",
      ],
      { stdio: ["ignore", "pipe", "ignore"] },
    );
    await new Promise<void>((resolve) => server.stdout.once("data", () => resolve()));
    const clientScript = `
      const s = require('net').connect(9000, ${JSON.stringify(w2.ipv4)});
      let sent = 0, got = 0, buf = '';
      s.on('connect', () => setInterval(() => s.write((sent++) + '\\n'), 100));
      s.on('data', (d) => { buf += d; let i; while ((i = buf.indexOf('\\n')) >= 0) { const n = Number(buf.slice(0, i)); buf = buf.slice(i + 1); if (n !== got) { console.log('out-of-order ' + n); process.exit(2); } got++; console.log('echo ' + got); } });
      s.on('error', (e) => { console.log('error ' + e.code); process.exit(1); });
      s.on('close', () => { console.log('closed'); process.exit(1); });`;
    const client = spawn("ip", ["netns", "exec", w1.namespace, process.execPath, "-e", clientScript], { stdio: ["ignore", "pipe", "ignore"] });
    let out = "";
    client.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    const echoes = () => (out.match(/^echo /gm) ?? []).length;
    try {
      assert.ok(await waitFor(async () => echoes() >= 5, 50, 100), `the connection works before the restart: ${out}`);
      const r = await lab("restart", "h2", "--kill");
      assert.equal(r.code, 0, r.stderr);
      const before = echoes();
      // The new agent starts, syncs and replaces its table; the connection carries on throughout.
      assert.ok(await waitFor(async () => echoes() >= before + 30, 100, 100), `echoes continue after the restart: ${out.slice(-200)}`);
      assert.doesNotMatch(out, /error|closed|out-of-order/);
      await checkPasses();
    } finally {
      client.kill("SIGKILL");
      server.kill("SIGKILL");
    }
  });
});
