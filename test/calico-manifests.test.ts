/**
 * Calico's own sample manifests (test/fixtures/calico/, from Calico's resource reference) apply
 * unchanged through the real `tabby` binary and read back equal with `get -o yaml`, modulo the
 * metadata the store adds (uid, creationTimestamp, resourceVersion) and the defaults Calico
 * fills in (listed exactly per kind). Broken variants are refused with an error naming the file,
 * the document and the field path, and change nothing in the datastore.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, test } from "node:test";
import { parse } from "yaml";
import { SqliteStore } from "../src/datastore/sqlite.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const FIXTURES = join(ROOT, "test/fixtures/calico");
const BIN = join(ROOT, "dist/src/cli/main.js");
const dir = mkdtempSync(join(tmpdir(), "ttd2-calico-"));
const db = join(dir, "tabby.db");
const datastore = `sqlite://${db}`;
after(() => rmSync(dir, { recursive: true, force: true }));

function tabby(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args, "--datastore", datastore], { env: { ...process.env, TABBY_LAB_ROOT: dir } }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** Defaults Calico's defaulting adds to these samples; anything else added is a failure. */
const ADDED_DEFAULTS: Record<string, Record<string, unknown>> = {
  IPPool: { blockSize: 26, vxlanMode: "Never", assignmentMode: "Automatic" },
};
/** Policy kinds are validated elsewhere; for them only "every given field reads back equal". */
const POLICY_KINDS = new Set(["GlobalNetworkPolicy", "NetworkPolicy", "Profile"]);

async function snapshot(): Promise<Record<string, string>> {
  const s = SqliteStore.open(db);
  try {
    return Object.fromEntries((await s.list("/")).items.map((kv) => [kv.key, kv.value]));
  } finally {
    await s.close();
  }
}

const samples = readdirSync(FIXTURES)
  .filter((f) => f.endsWith(".yaml"))
  .sort();

test("the fixture set covers the eight kinds", () => {
  const kinds = samples.map((f) => (parse(readFileSync(join(FIXTURES, f), "utf8")) as { kind: string }).kind).sort();
  assert.deepEqual(kinds, ["BGPConfiguration", "BGPPeer", "GlobalNetworkPolicy", "HostEndpoint", "IPPool", "NetworkPolicy", "NetworkSet", "Profile"]);
});

for (const f of samples) {
  test(`${f}: applies unchanged and reads back equal`, async () => {
    const path = join(FIXTURES, f);
    const input = parse(readFileSync(path, "utf8")) as { kind: string; metadata: { name: string; namespace?: string }; spec: Record<string, unknown> };
    const applied = await tabby("apply", "-f", path);
    assert.deepEqual(applied, { code: 0, stdout: "Successfully applied 1 resource(s)\n", stderr: "" });
    const ns = input.metadata.namespace ? ["-n", input.metadata.namespace] : [];
    const got = await tabby("get", input.kind, input.metadata.name, ...ns, "-o", "yaml");
    assert.equal(got.code, 0, got.stderr);
    const back = parse(got.stdout) as { metadata: Record<string, unknown>; spec: Record<string, unknown> };
    // Store-added metadata: present and well-formed, then set aside.
    assert.match(String(back.metadata["uid"]), /^[0-9a-f-]{36}$/);
    assert.match(String(back.metadata["creationTimestamp"]), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.match(String(back.metadata["resourceVersion"]), /^\d+$/);
    for (const k of ["uid", "creationTimestamp", "resourceVersion"]) delete back.metadata[k];
    if (POLICY_KINDS.has(input.kind)) {
      const given = Object.fromEntries(Object.keys(input.spec).map((k) => [k, back.spec[k]]));
      assert.deepEqual({ ...back, spec: given }, input);
    } else {
      assert.deepEqual(back, { ...input, spec: { ...input.spec, ...ADDED_DEFAULTS[input.kind] } });
    }
    // Applying the same file again changes nothing but the revision.
    const before = await snapshot();
    assert.equal((await tabby("apply", "-f", path)).code, 0);
    assert.deepEqual(await snapshot(), before);
  });
}

const BAD: [string, RegExp][] = [
  [
    "ippool-ipipmode.yaml",
    /bad\/ippool-ipipmode\.yaml: document 1: invalid IPPool "my\.ippool-1": spec\.ipipMode: CrossSubnet is not supported: tabby is pure layer 3 and builds no tunnels; use Never \[MODEL_INVALID\]/,
  ],
  [
    "ippool-blocksize.yaml",
    /bad\/ippool-blocksize\.yaml: document 1: invalid IPPool "my\.ippool-1": spec\.blockSize: must be between 20 and 32 for an IPv4 pool, got 40 \[MODEL_INVALID\]/,
  ],
  [
    "bgppeer-asnumber.yaml",
    /bad\/bgppeer-asnumber\.yaml: document 1: invalid BGPPeer "some\.name": spec\.asNumber: must be an AS number .*got 99999999999 \[MODEL_INVALID\]/,
  ],
  [
    "bgpconfiguration-severity.yaml",
    /bad\/bgpconfiguration-severity\.yaml: document 1: invalid BGPConfiguration "default": spec\.logSeverityScreen: must be one of .*got "Loud" \[MODEL_INVALID\]/,
  ],
  ["profile-typo.yaml", /bad\/profile-typo\.yaml: document 1: invalid Profile "dev-apps": spec\.ingres: unknown field \[MODEL_INVALID\]/],
  ["two-docs-second-bad.yaml", /bad\/two-docs-second-bad\.yaml: document 2: invalid HostEndpoint "Some_Name": metadata\.name: must consist of lower case/],
];

for (const [f, message] of BAD) {
  test(`bad/${f}: refused with the file, document and field path; nothing changes`, async () => {
    const before = await snapshot();
    for (const verb of ["apply", "create", "replace"]) {
      const r = await tabby(verb, "-f", join(FIXTURES, "bad", f));
      assert.equal(r.code, 1, `${verb}: ${r.stderr}`);
      assert.equal(r.stdout, "");
      assert.match(r.stderr, message, verb);
    }
    assert.deepEqual(await snapshot(), before);
  });
}
