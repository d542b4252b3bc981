// The lab's PKI (pki.ts) with the real openssl: every certificate verifies against the lab CA for
// its purpose only (etcd's for server and client use, the components' for client use only),
// etcd's names the fabric gateway, 127.0.0.1 and localhost, each client's CN is its etcd user,
// and the keys are 0600 in a 0700 directory.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LAB_COMPONENTS, LAB_ETCD_USER, certConfig, makeLabPki } from "./pki.js";

const dir = mkdtempSync(join(tmpdir(), "tabby-pki-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("certConfig: the extensions of a CA, a server and a client certificate", () => {
  assert.equal(
    certConfig("tabby-cni", "client"),
    "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = tabby-cni\n[ext]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature,keyEncipherment\nextendedKeyUsage = clientAuth\nauthorityKeyIdentifier = keyid\n",
  );
  assert.match(
    certConfig("s", "server", ["IP:10.99.0.254"]),
    /extendedKeyUsage = serverAuth,clientAuth\nauthorityKeyIdentifier = keyid\nsubjectAltName = IP:10.99.0.254\n$/,
  );
  assert.match(certConfig("ca", "ca"), /basicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign/);
});

test("makeLabPki: certificates that verify for their purpose only, private keys", () => {
  const p = makeLabPki(dir, "t1", ["10.99.0.254"]);
  const verify = (purpose: string, cert: string) => spawnSync("openssl", ["verify", "-CAfile", p.ca, "-purpose", purpose, cert], { encoding: "utf8" }).status;
  assert.equal(verify("sslserver", p.server.cert), 0);
  assert.equal(verify("sslclient", p.server.cert), 0);
  const san = execFileSync("openssl", ["x509", "-in", p.server.cert, "-noout", "-ext", "subjectAltName"], { encoding: "utf8" });
  assert.match(san, /IP Address:10\.99\.0\.254, IP Address:127\.0\.0\.1, DNS:localhost/);
  for (const c of LAB_COMPONENTS) {
    const pair = p.clients[c];
    assert.equal(verify("sslclient", pair.cert), 0, c);
    assert.notEqual(verify("sslserver", pair.cert), 0, `${c} is no server certificate`);
    const subject = execFileSync("openssl", ["x509", "-in", pair.cert, "-noout", "-subject"], { encoding: "utf8" });
    assert.match(subject, new RegExp(`CN ?= ?${LAB_ETCD_USER[c]}\\s*$`));
    assert.equal(statSync(pair.key).mode & 0o777, 0o600, c);
  }
  assert.equal(statSync(p.caKey).mode & 0o777, 0o600);
  assert.equal(statSync(p.dir).mode & 0o777, 0o700);
  // a second run starts from scratch: a new CA the old certificates do not verify against
  const before = execFileSync("openssl", ["x509", "-in", p.ca, "-noout", "-fingerprint"], { encoding: "utf8" });
  makeLabPki(dir, "t1", ["10.99.0.254"]);
  assert.notEqual(execFileSync("openssl", ["x509", "-in", p.ca, "-noout", "-fingerprint"], { encoding: "utf8" }), before);
});
