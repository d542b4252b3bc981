/** FelixConfiguration interfacePrefix: parsing, matching and the nft expression (issue 20). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { matchesPrefix, parseInterfacePrefixes } from "./iface-prefix.js";
import { nftIfaceMatch } from "../dataplane/nft/iface-match.js";

test("interfacePrefix: Felix's comma-separated list, tabby's default tab", () => {
  assert.deepEqual(parseInterfacePrefixes(undefined), ["tab"]);
  assert.deepEqual(parseInterfacePrefixes(""), ["tab"]);
  assert.deepEqual(parseInterfacePrefixes("tab,tap"), ["tab", "tap"]);
  assert.deepEqual(parseInterfacePrefixes(" tap , tab,tap"), ["tap", "tab"]);
  for (const bad of ["tab,", "ta b", "tab*", "a".repeat(15), 3])
    assert.throws(() => parseInterfacePrefixes(bad), { code: "MODEL_BAD_INTERFACE_PREFIX" }, String(bad));
  assert.equal(matchesPrefix("tapvm1", ["tab", "tap"]), true);
  assert.equal(matchesPrefix("eth0", ["tab", "tap"]), false);
});

test("nft workload-interface match: one prefix as before, several as an anonymous set", () => {
  assert.equal(nftIfaceMatch(["tab"]), '"tab*"');
  assert.equal(nftIfaceMatch(["tab"], ["tab0123"]), '"tab*"', "covered by the prefix");
  assert.equal(nftIfaceMatch(["tab", "tap"], ["vnet3", "tapx", "vnet3"]), '{ "tab*", "tap*", "vnet3" }');
});
