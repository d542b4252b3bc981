/**
 * A HostEndpoint in the lab (Calico's host protection with failsafes): a HostEndpoint for h1's
 * fabric interface `eth0`, with its expectedIPs and no policy, drops traffic to h1's own
 * addresses from the fabric, except Calico's failsafe ports (BGP on tcp/179 keeps its sessions
 * up), while IPv4 traffic forwarded through h1 to and from its workloads keeps flowing (no
 * applyOnForward policy applies, so forwarding is untouched, as in Calico), and so does IPv6
 * (neighbour discovery on host interfaces is never cut by host-endpoint policy).
 * Then a GlobalNetworkPolicy with applyOnForward that denies ICMP on that host endpoint blocks
 * pings forwarded through h1's eth0, and TCP still passes; `lab check` (whose evaluator knows
 * forwarded traffic meets host endpoints) agrees, pair by pair.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run, tabby, waitFor } from "./helpers.js";

const name = `tk${process.pid % 100000}`;
const dir = mkdtempSync(join(tmpdir(), "tabby-lab-hep-"));
const env = { TABBY_LAB_ROOT: dir };
const lab = (...args: string[]) => tabby(["lab", ...args, "--name", name], env);
const fabric = `${name}-fabric`;

after(async () => {
  await lab("down");
  rmSync(dir, { recursive: true, force: true });
});

function manifest(file: string, yaml: string): string {
  const path = join(dir, file);
  writeFileSync(path, yaml);
  return path;
}

const HEP = `
apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: { name: h1-eth0, labels: { host-endpoint: h1 } }
spec: { node: h1, interfaceName: eth0, expectedIPs: ["10.99.0.11", "fd99::b"] }
`;

const FORWARD_NO_ICMP = `
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: { name: h1-no-forwarded-icmp }
spec:
  selector: host-endpoint == 'h1'
  applyOnForward: true
  types: [Ingress, Egress]
  ingress:
    - { action: Deny, protocol: ICMP }
    - { action: Allow }
  egress:
    - { action: Deny, protocol: ICMP }
    - { action: Allow }
`;

interface Status {
  workloads: { name: string; namespace: string; ipv4: string; ipv6: string }[];
}
interface Peer {
  address: string;
  state: string;
  uptimeSeconds?: number;
}

const ping = async (netns: string, addr: string) => (await run("ip", ["netns", "exec", netns, "ping", "-c", "1", "-W", "1", "-n", "-q", addr])).code === 0;
/** A TCP connect from `netns`: "open", "refused" (RST) or "dropped" (no answer in 2 s). */
async function tcp(netns: string, addr: string, port: number): Promise<"open" | "refused" | "dropped"> {
  const r = await run("ip", ["netns", "exec", netns, "timeout", "2", "bash", "-c", `exec 3<>/dev/tcp/${addr}/${port}`]);
  return r.code === 0 ? "open" : r.code === 124 ? "dropped" : "refused";
}
async function peers(): Promise<Peer[]> {
  const r = await tabby(["lab", "exec", "h1", "--name", name, "--", "tabby", "node", "status", "-o", "json"], env);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Peer[];
}

test("lab policy: a HostEndpoint with failsafes, then applyOnForward", { timeout: 600_000 }, async (t) => {
  const up = await lab("up", "--hosts", "2", "--workloads", "1");
  assert.equal(up.code, 0, up.stdout + up.stderr);
  const status = JSON.parse((await lab("status", "-o", "json")).stdout) as Status;
  const h1w1 = status.workloads.find((w) => w.name === "h1-w1")!;
  const h2w1 = status.workloads.find((w) => w.name === "h2-w1")!;

  // Before: h1 answers pings, and a closed port is refused (RST), from the fabric.
  assert.ok(await ping(fabric, "10.99.0.11"), "h1 answers ping before the host endpoint");
  assert.equal(await tcp(fabric, "10.99.0.11", 12345), "refused");
  assert.ok(
    await waitFor(
      async () => {
        const ps = await peers();
        return ps.length > 0 && ps.every((p) => p.state === "Established");
      },
      50,
      200,
    ),
    "BGP up before",
  );

  await t.test("host endpoint, no policy: h1 itself closed except failsafes; forwarding untouched", async () => {
    const r = await tabby(["apply", "-f", manifest("hep.yaml", HEP)], env);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(await waitFor(async () => !(await ping(fabric, "10.99.0.11")), 20, 250), "h1 stops answering pings from the fabric");
    assert.ok(!(await ping(fabric, "fd99::b")), "nor over IPv6");
    assert.equal(await tcp(fabric, "10.99.0.11", 12345), "dropped", "a non-failsafe port is dropped, not refused");
    assert.equal(await tcp(fabric, "10.99.0.11", 22), "refused", "failsafe tcp/22 passes (nothing listens: refused, not dropped)");
    const before = await peers();
    // Wait past the BGP hold time (9 s in the lab): sessions stay up, never reset.
    await new Promise((res) => setTimeout(res, 12_000));
    const later = await peers();
    assert.ok(later.length > 0 && later.every((p) => p.state === "Established"), JSON.stringify(later));
    for (const p of later) {
      const b = before.find((x) => x.address === p.address);
      assert.ok(b && (p.uptimeSeconds ?? 0) >= (b.uptimeSeconds ?? 0) + 10, `session with ${p.address} was not reset: ${JSON.stringify([b, p])}`);
    }
    // Forwarded IPv4 traffic to and from h1's workload keeps flowing.
    assert.ok(await ping(h2w1.namespace, h1w1.ipv4), "h2-w1 → h1-w1 forwarded through h1");
    assert.ok(await ping(h1w1.namespace, h2w1.ipv4), "h1-w1 → h2-w1 forwarded through h1");
    assert.equal(await tcp(h2w1.namespace, h1w1.ipv4, 8080), "open");
  });

  await t.test("host endpoint, no policy: forwarded IPv6 keeps flowing too (lab check passes)", async () => {
    const check = await lab("check");
    assert.equal(check.code, 0, check.stdout + check.stderr);
  });

  await t.test("applyOnForward: forwarded ICMP through h1's eth0 denied, TCP still passes", async () => {
    const r = await tabby(["apply", "-f", manifest("fwd.yaml", FORWARD_NO_ICMP)], env);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(await waitFor(async () => !(await ping(h2w1.namespace, h1w1.ipv4)), 20, 250), "ping h2-w1 → h1-w1 is blocked at h1's eth0");
    assert.ok(!(await ping(h1w1.namespace, h2w1.ipv4)), "and h1-w1 → h2-w1 on the way out");
    // ICMPv6 is another protocol in Calico (protocol: ICMPv6): the policy's Allow lets it (and
    // neighbour discovery to h1) through.
    assert.ok(await waitFor(async () => ping(h2w1.namespace, h1w1.ipv6), 20, 250), "forwarded ICMPv6 is not ICMP: allowed");
    assert.equal(await tcp(h2w1.namespace, h1w1.ipv4, 80), "open", "TCP to h1-w1 still forwarded");
    // The policy's Allow opens h1 itself again (applyOnForward policies apply to host traffic too), except ICMP.
    assert.equal(await tcp(fabric, "10.99.0.11", 12345), "refused");
    assert.ok(!(await ping(fabric, "10.99.0.11")));
    const later = await peers();
    assert.ok(
      later.every((p) => p.state === "Established"),
      JSON.stringify(later),
    );
    // lab check evaluates forwarded traffic against host endpoints too (src/calc/policy-eval.ts):
    // the IPv4 pings between h1-w1 and h2-w1 are expected blocked, everything else reaches.
    const check = await lab("check");
    assert.equal(check.code, 0, check.stdout + check.stderr);
    assert.match(check.stdout, /h1-w1 +- +·✓✓ /);
    assert.match(check.stdout, /h2-w1 +·✓✓ +- /);
    assert.match(check.stdout, /\(10 should reach, 2 should be blocked\)/);
  });
});
