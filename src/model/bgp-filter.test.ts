/** BGPFilter schema and checks (libcalico-go's validator; unimplemented fields refused). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { validateResource } from "./validate.js";
import { ValidationError } from "./errors.js";

const filter = (spec: Record<string, unknown>) => ({ apiVersion: "projectcalico.org/v3", kind: "BGPFilter", metadata: { name: "f" }, spec });

function problems(spec: Record<string, unknown>): string[] {
  try {
    validateResource(filter(spec));
    return [];
  } catch (e) {
    assert.ok(e instanceof ValidationError);
    return e.errors.map((x) => `${x.path}: ${x.message}`);
  }
}

test("Calico's sample BGPFilter is valid and kept as written", () => {
  const spec = {
    exportV4: [
      { action: "Accept", matchOperator: "In", cidr: "77.0.0.0/16", source: "RemotePeers" },
      { action: "Reject", interface: "*.calico" },
    ],
    importV4: [
      { action: "Accept", matchOperator: "In", cidr: "55.0.0.0/16", prefixLength: { min: 30 } },
      { action: "Reject", matchOperator: "NotIn", cidr: "44.0.0.0/16" },
    ],
    exportV6: [{ action: "Reject", source: "RemotePeers" }],
    importV6: [{ action: "Accept", matchOperator: "Equal", cidr: "5000::/64" }, { action: "Reject" }],
  };
  assert.deepEqual(validateResource(filter(spec)).spec, spec);
});

test("bad rules are refused with the field's path", () => {
  const one = (r: Record<string, unknown>, list = "exportV4") => problems({ [list]: [r] });
  assert.match(one({ cidr: "10.0.0.0/8", matchOperator: "In" }).join(), /exportV4\[0\]\.action: is required/);
  assert.match(one({ action: "Accept", cidr: "10.0.0.0/8" }).join(), /matchOperator: cidr and matchOperator must be set together/);
  assert.match(one({ action: "Accept", matchOperator: "In" }).join(), /cidr: cidr and matchOperator/);
  assert.match(one({ action: "Accept", cidr: "fd00::/8", matchOperator: "In" }).join(), /exportV4\[0\]\.cidr: must be an IPv4/);
  assert.match(one({ action: "Accept", cidr: "10.0.0.1/8", matchOperator: "In" }).join(), /no host bits/);
  assert.match(
    one({ action: "Accept", cidr: "10.0.0.0/16", matchOperator: "Equal", prefixLength: { min: 24 } }).join(),
    /only valid with matchOperator In or NotIn/,
  );
  assert.match(
    one({ action: "Accept", cidr: "10.0.0.0/16", matchOperator: "In", prefixLength: { min: 8 } }).join(),
    /min: must be at least the cidr's length 16/,
  );
  assert.match(one({ action: "Accept", cidr: "10.0.0.0/16", matchOperator: "In", prefixLength: { min: 28, max: 24 } }).join(), /min 28 is above max 24/);
  assert.match(one({ action: "Accept", cidr: "10.0.0.0/16", matchOperator: "In", prefixLength: { max: 33 } }).join(), /prefixLength\.max/);
  assert.match(one({ action: "Accept", source: "Kernel" }).join(), /source/);
  assert.match(one({ action: "Accept", interface: "eth*" }, "importV4").join(), /importV4\[0\]\.interface: is not supported on import rules/);
  // fields tabby does not implement are named, not ignored
  assert.match(one({ action: "Accept", peerType: "eBGP" }).join(), /exportV4\[0\]\.peerType: unknown field/);
  assert.match(problems({ exportV5: [] }).join(), /spec\.exportV5: unknown field/);
});
