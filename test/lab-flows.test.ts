/**
 * Flow logs in a lab: with FelixConfiguration `flowLogsEnabled`, a connection denied by a
 * default-deny policy appears in `tabby flows --denied` at the destination's host, with the
 * verdict's attribution (end of tier default), and the allowed one with the policy and rule that
 * allowed it at both ends, counted by conntrack accounting in both directions (not only its first
 * packet).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { labUnderTest, run, tabby, waitFor } from "./helpers.js";
import { probeFrom } from "./fabric-lab.js";
import type { FlowRecord } from "../src/flows/aggregate.js";
import { DEFAULT_DENY } from "./lab-scenarios.js";

const { name, env, lab } = labUnderTest("tf", "tabby-lab-flows-");

const POLICY = `${DEFAULT_DENY}---
apiVersion: projectcalico.org/v3
kind: FelixConfiguration
metadata: { name: default }
spec: { flowLogsEnabled: true, flowLogsFlushInterval: 10s }
`;

interface Status {
  workloads: { name: string; namespace: string; ipv4: string }[];
}

test("flow logs: a denied connection with the policy that denied it; an allowed one with its rule at both ends", { timeout: 600_000 }, async () => {
  const file = join(env.TABBY_LAB_ROOT, "policy.yaml");
  writeFileSync(file, POLICY);
  const up = await lab("up", "--hosts", "2", "--workloads", "2", "--policy", file);
  assert.equal(up.code, 0, up.stdout + up.stderr);
  const status = JSON.parse((await lab("status", "-o", "json")).stdout) as Status;
  const w = Object.fromEntries(status.workloads.map((x) => [x.name, x]));
  const src = w["h1-w1"]!;
  const dst = w["h2-w2"]!;

  let flows: FlowRecord[] = [];
  const seen = await waitFor(
    async () => {
      const [denied, allowed] = await probeFrom(src.namespace, [
        { name: "h2-w2", family: 4, address: dst.ipv4, protocol: "tcp", port: 80 },
        { name: "h2-w2", family: 4, address: dst.ipv4, protocol: "tcp", port: 8080 },
      ]);
      if (denied!.reached || !allowed!.reached) return false;
      const r = await tabby(["flows", "--name", name, "-o", "json"], env);
      if (r.code !== 0) return false;
      flows = JSON.parse(r.stdout) as FlowRecord[];
      const deny = flows.find((f) => f.action === "deny" && f.src === src.ipv4 && f.dst === dst.ipv4 && f.dstPort === 80);
      const allowIn = flows.find((f) => f.action === "allow" && f.direction === "ingress" && f.dst === dst.ipv4 && f.dstPort === 8080);
      const allowOut = flows.find((f) => f.action === "allow" && f.direction === "egress" && f.src === src.ipv4 && f.dstPort === 8080);
      return !!deny && !!allowIn && !!allowOut;
    },
    30,
    500,
  );
  assert.ok(seen, JSON.stringify(flows, null, 1));
  const deny = flows.find((f) => f.action === "deny" && f.dstPort === 80 && f.dst === dst.ipv4)!;
  assert.equal(deny.host, "h2");
  assert.equal(deny.direction, "ingress");
  assert.equal(deny.policy, "end of tier default");
  assert.equal(deny.protocol, "tcp");
  assert.ok(deny.packets >= 1 && deny.bytes >= 40 && deny.srcPort! > 0);
  const allowIn = flows.find((f) => f.action === "allow" && f.direction === "ingress" && f.dstPort === 8080)!;
  assert.deepEqual([allowIn.host, allowIn.policy, allowIn.rule], ["h2", "np lab/allow-w1-to-w2", 1]);
  const allowOut = flows.find((f) => f.action === "allow" && f.direction === "egress" && f.dstPort === 8080)!;
  assert.deepEqual([allowOut.host, allowOut.policy, allowOut.rule], ["h1", "profile kns.lab", 1]);

  // conntrack accounting (on while flow logs are) gives allowed connections all their packets, both ways
  const acct = await run("ip", ["netns", "exec", `${name}-h2`, "sysctl", "-n", "net.netfilter.nf_conntrack_acct"]);
  assert.equal(acct.stdout.trim(), "1");
  let counted: FlowRecord[] = [];
  const grew = await waitFor(
    async () => {
      const r = await tabby(["flows", "--name", name, "-o", "json"], env);
      if (r.code !== 0) return false;
      counted = (JSON.parse(r.stdout) as FlowRecord[]).filter((f) => f.action === "allow" && f.dstPort === 8080 && f.conntrack);
      return counted.some((f) => f.direction === "ingress" && f.host === "h2") && counted.some((f) => f.direction === "egress" && f.host === "h1");
    },
    60,
    500,
  );
  assert.ok(grew, JSON.stringify(counted, null, 1));
  for (const f of counted) {
    // a TCP handshake and close: SYN, ACK, FIN, ... one way; SYN-ACK, FIN, ... back
    assert.ok(f.packets >= 2 && f.replyPackets! >= 1 && f.bytes > 60 && f.replyBytes! >= 40, JSON.stringify(f));
  }

  const text = await tabby(["flows", "--name", name, "--denied"], env);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /deny\s+ingress\s+end of tier default/);
  assert.doesNotMatch(text.stdout, /\ballow\b/);

  // the nft rules carry the attribution the records were parsed from
  const listing = await run("ip", ["netns", "exec", `${name}-h2`, "nft", "list", "table", "inet", "tabby"]);
  assert.match(listing.stdout, /log prefix "F D end-of-tier default ingress -" group 7 drop/);
});
