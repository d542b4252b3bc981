/**
 * The lab's etcd is private (issue 19): `tabby lab up --datastore etcd` makes a CA and a
 * certificate per component in the lab dir (keys 0600 in a 0700 directory), runs etcd with TLS
 * and client-certificate authentication, and enables etcd authentication with a role per
 * component. Checked from the fabric and from a workload: no certificate, no answer (plain HTTP
 * and TLS alike); the agent's and the CNI plugin's certificates cannot write a
 * GlobalNetworkPolicy (permission denied), the admin's can; the agent and the plugin run with
 * their own certificates, and the lab works (`lab check`).
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLI, run, tabby } from "./helpers.js";

const name = `tp${process.pid % 100000}`;
const root = mkdtempSync(join(tmpdir(), "ttep-lab-"));
const env = { TABBY_LAB_ROOT: root };
const lab = (...args: string[]) => tabby(["lab", ...args, "--name", name], env);
const fabric = `${name}-fabric`;
const pki = join(root, name, "pki");
const urlFor = (c: string) => `etcds://10.99.0.254:2379?ca=${pki}/ca.pem&cert=${pki}/${c}.pem&key=${pki}/${c}-key.pem`;

after(async () => {
  await lab("down");
  rmSync(root, { recursive: true, force: true });
});

test("lab etcd: TLS with client certificates and a role per component", { timeout: 300_000 }, async () => {
  const up = await lab("up", "--hosts", "1", "--workloads", "1", "--datastore", "etcd");
  assert.equal(up.code, 0, up.stdout + up.stderr);
  const st = JSON.parse(readFileSync(join(root, name, "state.json"), "utf8")) as { datastore: string; processes: { role: string; pid: number }[] };
  assert.equal(st.datastore, urlFor("admin"));

  assert.equal(statSync(pki).mode & 0o777, 0o700);
  for (const c of ["ca", "etcd-server", "agent", "cni", "admin"]) assert.equal(statSync(join(pki, `${c}-key.pem`)).mode & 0o777, 0o600, c);
  const subject = await run("openssl", ["x509", "-in", join(pki, "cni.pem"), "-noout", "-subject"]);
  assert.match(subject.stdout, /CN ?= ?tabby-cni/);

  // each component runs with its own certificate
  const agent = st.processes.find((p) => p.role === "agent")!;
  assert.ok(readFileSync(`/proc/${agent.pid}/cmdline`, "utf8").includes(`${pki}/agent.pem`), "the agent uses the agent certificate");

  // no certificate: nothing, from the fabric and from a workload
  for (const ns of [fabric, `${name}-h1-w1`]) {
    const tlsNoCert = await run("ip", [
      "netns",
      "exec",
      ns,
      "curl",
      "-sS",
      "-m",
      "5",
      "--cacert",
      `${pki}/ca.pem`,
      "https://10.99.0.254:2379/v3/kv/range",
      "-d",
      '{"key":"L2NhbGljby8="}',
    ]);
    assert.doesNotMatch(tlsNoCert.stderr, /network namespace/, `${ns} exists`);
    assert.notEqual(tlsNoCert.code, 0, `${ns}: TLS without a client certificate: ${tlsNoCert.stdout}`);
    assert.doesNotMatch(tlsNoCert.stdout, /kvs|count/);
    const plain = await run("ip", ["netns", "exec", ns, "curl", "-sS", "-m", "5", "http://10.99.0.254:2379/v3/kv/range", "-d", '{"key":"L2NhbGljby8="}']);
    assert.doesNotMatch(plain.stdout, /kvs|count/, `${ns}: plain HTTP`);
  }

  // roles: only the admin may write policy
  const gnp = join(root, "gnp.yaml");
  writeFileSync(
    gnp,
    "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: allow-everything\nspec:\n  selector: all()\n  ingress:\n    - action: Allow\n",
  );
  for (const c of ["agent", "cni"]) {
    const r = await run("ip", ["netns", "exec", fabric, process.execPath, CLI, "apply", "-f", gnp, "--datastore", urlFor(c)]);
    assert.notEqual(r.code, 0, `${c} wrote a policy`);
    assert.match(r.stderr, /permission denied/, c);
    // but reads what it needs
    const nodes = await run("ip", ["netns", "exec", fabric, process.execPath, CLI, "get", "nodes", "--datastore", urlFor(c)]);
    assert.equal(nodes.code, 0, `${c}: ${nodes.stderr}`);
    assert.match(nodes.stdout, /^h1\s*$/m);
  }
  const ok = await run("ip", ["netns", "exec", fabric, process.execPath, CLI, "apply", "-f", gnp, "--datastore", urlFor("admin")]);
  assert.equal(ok.code, 0, ok.stderr);
  const del = await run("ip", [
    "netns",
    "exec",
    fabric,
    process.execPath,
    CLI,
    "delete",
    "globalnetworkpolicy",
    "allow-everything",
    "--datastore",
    urlFor("admin"),
  ]);
  assert.equal(del.code, 0, del.stderr);

  const c = await lab("check");
  assert.equal(c.code, 0, c.stdout + c.stderr);
});
