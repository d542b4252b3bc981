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

// The grammar as a regular expression (RFC 4291 §2.2 with RFC 3986's IPv6address shape), an
// oracle independent of the character scanner in ip.ts: every string it accepts parses, to the
// same bytes as its groups spell, and every string it refuses does not.
const DEC = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])";
const V4 = `${DEC}\\.${DEC}\\.${DEC}\\.${DEC}`;
const H = "[0-9a-fA-F]{1,4}";
const LS32 = `(?:${H}:${H}|${V4})`;
const V6 = new RegExp(
  "^(?:" +
    [
      `(?:${H}:){6}${LS32}`,
      `::(?:${H}:){5}${LS32}`,
      `(?:${H})?::(?:${H}:){4}${LS32}`,
      `(?:(?:${H}:){0,1}${H})?::(?:${H}:){3}${LS32}`,
      `(?:(?:${H}:){0,2}${H})?::(?:${H}:){2}${LS32}`,
      `(?:(?:${H}:){0,3}${H})?::${H}:${LS32}`,
      `(?:(?:${H}:){0,4}${H})?::${LS32}`,
      `(?:(?:${H}:){0,5}${H})?::${H}`,
      `(?:(?:${H}:){0,6}${H})?::`,
    ].join("|") +
    ")$",
);
const V4RE = new RegExp(`^${V4}$`);

test("property: the parser accepts exactly the textual forms of RFC 4291 §2.2", () => {
  const chars = fc.constantFrom(..."0123456789abcdefABCDEF:.%g/".split(""));
  const noisy = fc.array(chars, { maxLength: 45 }).map((cs) => cs.join(""));
  // strings near the grammar: an address's groups, some shortened, some as a dotted quad, mutated
  const near = fc
    .tuple(
      fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 }),
      fc.integer({ min: 0, max: 8 }),
      fc.integer({ min: 0, max: 8 }),
      fc.boolean(),
      fc.boolean(),
      fc.nat(40),
      fc.constantFrom("", ":", ".", "0", "::", "00000", "1.2.3.4"),
    )
    .map(([g, from, n, quad, upper, at, junk]) => {
      let parts = g.map((x) => x.toString(16));
      if (quad) parts = [...parts.slice(0, 6), `${g[6]! >> 8}.${g[6]! & 0xff}.${g[7]! >> 8}.${g[7]! & 0xff}`];
      let text = parts.join(":");
      if (n > 0 && from < parts.length) text = `${parts.slice(0, from).join(":")}::${parts.slice(Math.min(parts.length, from + n)).join(":")}`;
      if (upper) text = text.toUpperCase();
      return junk && at % 3 === 0 ? text.slice(0, at) + junk + text.slice(at) : text;
    });
  fc.assert(
    fc.property(fc.oneof(noisy, near), (text) => {
      const ip = tryParseIP(text);
      const ok = V4RE.test(text) || V6.test(text);
      assert.equal(ip !== undefined, ok, text);
      if (!ip) return;
      if (ip.family === 4) {
        assert.deepEqual([...ip.bytes], text.split(".").map(Number), text);
        return;
      }
      // the same bytes as the groups spell, "::" filled with zero groups
      const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined];
      const groups = (s: string | undefined) =>
        !s
          ? []
          : s
              .split(":")
              .flatMap((p) => (p.includes(".") ? ((q) => [(q[0]! << 8) | q[1]!, (q[2]! << 8) | q[3]!])(p.split(".").map(Number)) : [parseInt(p, 16)]));
      const h = groups(head);
      const t = groups(tail);
      const all = tail === undefined ? h : [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
      assert.deepEqual(
        [...ip.bytes],
        all.flatMap((x) => [x >> 8, x & 0xff]),
        text,
      );
    }),
    { numRuns: 20_000 },
  );
});
