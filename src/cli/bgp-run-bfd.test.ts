// `tabby bgp run` config: a peer's `bfd` field — true for FRR's defaults, a mapping to change
// them, unknown keys and out-of-range values refused with a message naming them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseConfig } from "./bgp-run.js";

const cfg = (bfd: string) => parseConfig(`routerId: 1.2.3.4\nasNumber: 1\npeers: [{ address: 1.2.3.5, asNumber: 1, bfd: ${bfd} }]`).peers![0]!.bfd;

test("bfd: true gives 300 ms / 300 ms / 3; a mapping overrides; false is none", () => {
  assert.deepEqual(cfg("true"), { minRx: 300, minTx: 300, multiplier: 3 });
  assert.deepEqual(cfg("{ minRx: 100, multiplier: 5, multihop: true }"), { minRx: 100, minTx: 300, multiplier: 5, multihop: true });
  assert.equal(cfg("false"), undefined);
});

test("bfd: unknown keys and bad values are refused by name", () => {
  assert.throws(() => cfg("{ echo: true }"), /bfd: unknown key echo/);
  assert.throws(() => cfg("{ minRx: 0 }"), /minRx/);
  assert.throws(() => cfg("{ multiplier: 256 }"), /multiplier/);
  assert.throws(() => cfg("{ multihop: 1 }"), /multihop/);
  assert.throws(() => cfg("yes"), /bfd is true, false or a mapping/);
});
