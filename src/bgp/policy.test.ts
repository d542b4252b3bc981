/** Import/export policy evaluation (pure): prefix ranges, communities, first match, defaults, set actions. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { parsePrefix } from "../net/prefix.js";
import { parseIP } from "../net/ip.js";
import { applySet, compilePolicy, evaluate, parseCommunityValue } from "./policy.js";
import { parseConfig } from "../cli/bgp-run.js";

const P = (s: string) => parsePrefix(s);
const C = parseCommunityValue;

test("prefix match: exact without ge/le, ranges with them, family and containment", () => {
  const pol = compilePolicy(
    [
      { match: { prefix: [{ prefix: "10.0.0.0/8", ge: 24, le: 26 }] }, action: "accept" },
      { match: { prefix: [{ prefix: "192.168.0.0/16" }] }, action: "accept" },
      { match: { prefix: [{ prefix: "172.16.0.0/12", ge: 30 }] }, action: "accept" },
      { match: { prefix: [{ prefix: "fd00::/8", le: 64 }] }, action: "accept" },
    ],
    false,
  );
  const ok = (s: string) => evaluate(pol, P(s), []) !== undefined;
  assert.equal(ok("10.1.2.0/24"), true);
  assert.equal(ok("10.1.2.64/26"), true);
  assert.equal(ok("10.1.2.0/23"), false);
  assert.equal(ok("10.1.2.1/32"), false);
  assert.equal(ok("11.1.2.0/24"), false);
  assert.equal(ok("192.168.0.0/16"), true);
  assert.equal(ok("192.168.1.0/24"), false);
  assert.equal(ok("172.16.0.4/30"), true);
  assert.equal(ok("172.16.0.4/32"), true);
  assert.equal(ok("172.16.0.0/29"), false);
  assert.equal(ok("fd00:1::/48"), true);
  assert.equal(ok("fd00:1::/80"), false);
  assert.equal(ok("fe80::/10"), false);
});

test("first match wins; community match is any-of; defaults: reject for eBGP, accept for iBGP", () => {
  const terms = [
    { match: { prefix: [{ prefix: "10.0.0.0/8", le: 32 }], community: ["65000:666"] }, action: "reject" as const },
    { match: { prefix: [{ prefix: "10.0.0.0/8", le: 32 }] }, action: "accept" as const },
  ];
  const ebgp = compilePolicy(terms, false);
  const ibgp = compilePolicy(terms, true);
  assert.equal(evaluate(ebgp, P("10.1.0.0/16"), [C("65000:666")]), undefined);
  assert.equal(evaluate(ebgp, P("10.1.0.0/16"), [C("65000:1"), C("65000:2")]), 1);
  assert.equal(evaluate(ebgp, P("20.0.0.0/8"), []), undefined);
  assert.equal(evaluate(ibgp, P("20.0.0.0/8"), []), -1);
  assert.equal(evaluate(compilePolicy([], false), P("20.0.0.0/8"), []), undefined);
  assert.equal(evaluate(compilePolicy([{ action: "accept" }], false), P("20.0.0.0/8"), []), 0);
});

test("notPrefix matches routes outside every listed range (BGPFilter NotIn/NotEqual); an empty prefix list matches nothing", () => {
  const pol = compilePolicy(
    [
      { match: { notPrefix: [{ prefix: "10.0.0.0/16", ge: 16, le: 32 }] }, action: "reject" },
      { match: { notPrefix: [{ prefix: "10.0.1.0/24" }] }, action: "accept" },
      { match: { prefix: [] }, action: "accept" },
    ],
    false,
  );
  assert.equal(evaluate(pol, P("192.168.0.0/24"), []), undefined, "outside 10.0/16: rejected");
  assert.equal(evaluate(pol, P("fd00::/64"), []), undefined, "another family is outside too");
  assert.equal(evaluate(pol, P("10.0.2.0/24"), []), 1, "inside 10.0/16 and not equal to 10.0.1.0/24");
  assert.equal(evaluate(pol, P("10.0.1.0/24"), []), undefined, "equal: falls to the empty list, then the default");
});

test("source: local, ibgp, ebgp (any of); a term with a source never matches a route of unknown source", () => {
  const pol = compilePolicy(
    [
      { match: { source: ["ebgp"] }, action: "reject" },
      { match: { source: ["local", "ibgp"], prefix: [{ prefix: "10.0.0.0/8", le: 32 }] }, action: "accept" },
    ],
    false,
  );
  assert.equal(evaluate(pol, P("10.1.0.0/26"), [], [], "ebgp"), undefined);
  assert.equal(evaluate(pol, P("10.1.0.0/26"), [], [], "ibgp"), 1);
  assert.equal(evaluate(pol, P("10.1.0.0/26"), [], [], "local"), 1);
  assert.equal(evaluate(pol, P("10.1.0.0/26"), []), undefined, "unknown source: no term matches, default reject");
  assert.equal(evaluate(compilePolicy([{ match: { source: ["ebgp"] }, action: "reject" }], true), P("10.1.0.0/26"), []), -1);
  assert.throws(() => compilePolicy([{ match: { source: ["kernel" as "local"] }, action: "accept" }], true), { code: "BGP_BAD_POLICY" });
});

test("set: local-pref, MED, communities added and removed (sorted, once), input untouched", () => {
  const pol = compilePolicy([{ action: "accept", set: { localPref: 200, med: 7, communities: { add: ["65000:9", "no-export"], remove: ["65000:1"] } } }], true);
  const attrs = { localPref: 100, communities: [C("65000:1"), C("65000:9")], nextHop: parseIP("10.0.0.1") };
  const out = applySet(attrs, pol.terms[0]!);
  assert.deepEqual(out, { localPref: 200, med: 7, communities: [C("65000:9"), 0xffffff01], nextHop: parseIP("10.0.0.1") });
  assert.deepEqual(attrs.communities, [C("65000:1"), C("65000:9")]);
});

test("bad policy is refused with BGP_BAD_POLICY", () => {
  assert.throws(() => compilePolicy([{ match: { prefix: [{ prefix: "10.0.0.0/16", ge: 8 }] }, action: "accept" }], true), { code: "BGP_BAD_POLICY" });
  assert.throws(() => compilePolicy([{ match: { prefix: [{ prefix: "10.0.0.0/16", ge: 28, le: 24 }] }, action: "accept" }], true), { code: "BGP_BAD_POLICY" });
  assert.throws(() => compilePolicy([{ action: "maybe" as "accept" }], true), { code: "BGP_BAD_POLICY" });
  assert.throws(() => compilePolicy([{ action: "accept", set: { nextHop: "there" as "self" } }], true), { code: "BGP_BAD_POLICY" });
  assert.throws(() => compilePolicy([{ match: { community: ["65536:1"] }, action: "accept" }], true), { code: "BGP_BAD_COMMUNITY" });
});

test("bgp run config: eBGP peers without policy get empty policies (RFC 8212), iBGP and explicit ones are kept", () => {
  const c = parseConfig(`routerId: 1.1.1.1
asNumber: 65000
peers:
  - { address: 10.0.0.2, asNumber: 65001 }
  - { address: 10.0.0.3, asNumber: 65000 }
  - { address: 10.0.0.4, asNumber: 65002, import: [{ action: accept }] }
`);
  assert.deepEqual(
    c.peers!.map((p) => [p.import, p.export]),
    [
      [[], []],
      [undefined, undefined],
      [[{ action: "accept" }], []],
    ],
  );
});
