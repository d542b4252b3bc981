import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { parseIP, tryParseIP, ipFromBigInt, IP } from "./ip.js";
import { parsePrefix, tryParsePrefix } from "./prefix.js";

test("IPv4 parse and print", () => {
  assert.equal(parseIP("10.0.0.1").toString(), "10.0.0.1");
  for (const bad of ["10.0.0", "10.0.0.256", "01.0.0.1", "a.b.c.d", "1.2.3.4.5", ""]) {
    assert.equal(tryParseIP(bad), undefined, bad);
  }
});

test("IPv6 canonical form per RFC 5952", () => {
  const cases: [string, string][] = [
    ["2001:DB8:0:0:0:0:0:1", "2001:db8::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
    ["::", "::"],
    ["::1", "::1"],
    ["fe80::ecee:eeff:feee:eeee", "fe80::ecee:eeff:feee:eeee"],
    ["::ffff:10.0.0.1", "::ffff:a00:1"],
    ["1:0:0:2:0:0:0:3", "1:0:0:2::3"],
  ];
  for (const [input, want] of cases) assert.equal(parseIP(input).toString(), want, input);
  for (const bad of [":::", "1::2::3", "12345::", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "g::1", "fe80::1%eth0"]) {
    assert.equal(tryParseIP(bad), undefined, bad);
  }
});

test("errors carry a code", () => {
  assert.throws(() => parseIP("nope"), { code: "NET_BAD_IP" });
  assert.throws(() => parsePrefix("10.0.0.1/24", { strict: true }), { code: "NET_BAD_PREFIX" });
});

test("property: print then parse is the identity, both families", () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.boolean(), (bytes, v4) => {
      const ip = new IP(v4 ? bytes.slice(0, 4) : bytes);
      const back = parseIP(ip.toString());
      assert.ok(back.equals(ip));
      assert.equal(ipFromBigInt(ip.family, ip.toBigInt()).toString(), ip.toString());
    }),
  );
});

test("prefixes: masking, containment, subnets", () => {
  const p = parsePrefix("10.65.3.7/26");
  assert.equal(p.network().toString(), "10.65.3.0/26");
  assert.equal(p.isNetwork(), false);
  assert.ok(parsePrefix("10.65.0.0/16").containsPrefix(p.network()));
  assert.equal(parsePrefix("10.65.0.0/16").contains(parseIP("10.66.0.1")), false);
  assert.equal(tryParsePrefix("10.0.0.0/33"), undefined);
  const subs = [...parsePrefix("fd00::/120").subnets(122)].map(String);
  assert.deepEqual(subs, ["fd00::/122", "fd00::40/122", "fd00::80/122", "fd00::c0/122"]);
  assert.equal(parsePrefix("10.0.0.0/30").nth(3).toString(), "10.0.0.3");
  assert.equal(parsePrefix("10.0.0.0/30").offsetOf(parseIP("10.0.0.2")), 2n);
  assert.equal(parsePrefix("2001:db8::1").toString(), "2001:db8::1/128");
});
