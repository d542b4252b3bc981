// Property tests (fast-check): random valid UPDATEs and OPENs round-trip through encode/decode;
// random bytes never make the framer or decoder throw anything but BgpProtocolError.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { IP } from "../../net/ip.js";
import { Prefix } from "../../net/prefix.js";
import { decodeMessage, encodeMessage } from "./messages.js";
import { BgpFramer } from "./framer.js";
import { BgpProtocolError } from "../errors.js";
import type { CodecOptions, PathAttributes } from "./attributes.js";
import type { UpdateMessage } from "./update.js";
import type { Nlri } from "./nlri.js";
import type { OpenMessage } from "./open.js";

const ipv4 = fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => new IP(b));
const ipv6 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => new IP(b));
const unicast4 = ipv4.filter((ip) => ip.bytes[0]! > 0 && ip.bytes[0]! < 224);
const prefix4 = fc.tuple(ipv4, fc.integer({ min: 0, max: 32 })).map(([ip, len]) => new Prefix(ip, len).network());
const prefix6 = fc.tuple(ipv6, fc.integer({ min: 0, max: 128 })).map(([ip, len]) => new Prefix(ip, len).network());
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const asn = fc.integer({ min: 1, max: 0xffffffff });
const dotted = u32.map((v) => `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`);
const nlri = (p: fc.Arbitrary<Prefix>, addPath: boolean): fc.Arbitrary<Nlri[]> =>
  fc.array(fc.record({ prefix: p, pathId: addPath ? u32 : fc.constant(0) }), { maxLength: 20 });

const options = fc.record({ as4: fc.constant(true), addPath: fc.record({ ipv4: fc.boolean(), ipv6: fc.boolean() }) }) as fc.Arbitrary<CodecOptions>;

function updateArb(ctx: CodecOptions): fc.Arbitrary<UpdateMessage> {
  const attrs = fc.record(
    {
      origin: fc.integer({ min: 0, max: 2 }),
      asPath: fc.array(fc.record({ type: fc.integer({ min: 1, max: 4 }), asns: fc.array(asn, { minLength: 1, maxLength: 10 }) }), { maxLength: 3 }),
      med: u32,
      localPref: u32,
      atomicAggregate: fc.constant(true),
      aggregator: fc.record({ asNumber: asn, address: ipv4 }),
      communities: fc.array(u32, { minLength: 1, maxLength: 5 }),
      originatorId: dotted,
      clusterList: fc.array(dotted, { minLength: 1, maxLength: 4 }),
      largeCommunities: fc.uniqueArray(fc.tuple(u32, u32, u32), { minLength: 1, maxLength: 3, selector: (t) => t.join(":") }),
      mpReach: fc.oneof(
        fc.record({ family: fc.constant("ipv6" as const), nextHop: ipv6, nlri: nlri(prefix6, ctx.addPath.ipv6) }),
        fc.record({ family: fc.constant("ipv6" as const), nextHop: ipv6, linkLocal: ipv6, nlri: nlri(prefix6, ctx.addPath.ipv6) }),
      ),
      mpUnreach: fc.record({ family: fc.constant("ipv6" as const), withdrawn: nlri(prefix6, ctx.addPath.ipv6) }),
      unknown: fc.array(fc.record({ flags: fc.constant(0xe0), type: fc.integer({ min: 100, max: 200 }), data: fc.uint8Array({ maxLength: 8 }) }), {
        maxLength: 1,
      }),
    },
    { requiredKeys: [] },
  ) as fc.Arbitrary<PathAttributes>;
  return fc
    .record({ withdrawn: nlri(prefix4, ctx.addPath.ipv4), attributes: attrs, nlri: nlri(prefix4, ctx.addPath.ipv4), nh: unicast4 })
    .map(({ withdrawn, attributes, nlri: n, nh }) => {
      const a: PathAttributes = { ...attributes, origin: attributes.origin ?? 0, asPath: attributes.asPath ?? [], nextHop: nh };
      return { type: "update" as const, withdrawn, attributes: a, nlri: n };
    });
}

test("random valid UPDATEs round-trip (encode → decode → encode)", () => {
  fc.assert(
    fc.property(
      options.chain((ctx) => fc.tuple(fc.constant(ctx), updateArb(ctx))),
      ([ctx, u]) => {
        let wire: Uint8Array;
        try {
          wire = encodeMessage(u, ctx);
        } catch (e) {
          // too big for 4096 bytes is a legitimate refusal
          fc.pre(!(e instanceof BgpProtocolError && e.notifySubcode === 2));
          throw e;
        }
        const back = decodeMessage(wire, ctx) as UpdateMessage;
        assert.equal(back.errors, undefined);
        assert.deepEqual(encodeMessage(back, ctx), wire);
        assert.deepEqual(
          back.nlri.map((n) => `${n.pathId} ${n.prefix}`),
          u.nlri.map((n) => `${n.pathId} ${n.prefix}`),
        );
        assert.deepEqual(
          back.withdrawn.map((n) => `${n.pathId} ${n.prefix}`),
          u.withdrawn.map((n) => `${n.pathId} ${n.prefix}`),
        );
        assert.equal(back.attributes.med, u.attributes.med);
        assert.deepEqual(back.attributes.communities, u.attributes.communities);
        assert.deepEqual(back.attributes.clusterList, u.attributes.clusterList);
        assert.deepEqual(
          back.attributes.mpReach?.nlri.map((n) => n.prefix.toString()),
          u.attributes.mpReach?.nlri.map((n) => n.prefix.toString()),
        );
      },
    ),
    { numRuns: 300 },
  );
});

test("random OPENs round-trip", () => {
  const open = fc.record({
    myAs: fc.integer({ min: 0, max: 0xffff }),
    holdTime: fc.integer({ min: 0, max: 0xffff }),
    routerId: dotted,
    capabilities: fc.array(
      fc.oneof(
        fc.record({ code: fc.constant(1), afi: fc.integer({ min: 1, max: 2 }), safi: fc.constant(1) }),
        fc.record({ code: fc.constant(2) }),
        fc.record({ code: fc.constant(65), asNumber: asn }),
        fc.record({
          code: fc.constant(69),
          families: fc.array(fc.record({ afi: fc.integer({ min: 1, max: 2 }), safi: fc.constant(1), mode: fc.constantFrom(1, 2, 3) }), { maxLength: 2 }),
        }),
        fc.record({ code: fc.constant(73), raw: fc.uint8Array({ maxLength: 10 }) }),
      ),
      { maxLength: 8 },
    ),
  });
  fc.assert(
    fc.property(open, (o) => {
      const m = { type: "open", version: 4, ...o } as OpenMessage;
      const wire = encodeMessage(m);
      const plain = (x: unknown) => JSON.parse(JSON.stringify(x)) as unknown;
      assert.deepEqual(plain(decodeMessage(wire)), plain(m));
    }),
  );
});

function onlyProtocolErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof BgpProtocolError)) throw e;
  }
}

test("random bytes: framer and decoder throw only BgpProtocolError", () => {
  const ctxs = fc.record({ as4: fc.boolean(), addPath: fc.record({ ipv4: fc.boolean(), ipv6: fc.boolean() }) });
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 1, max: 5 }), ctxs, (body, type, ctx) => {
      // a valid header around random bytes reaches every body decoder
      const len = 19 + body.length;
      const msg = Uint8Array.from([...Array(16).fill(0xff), len >> 8, len & 0xff, type, ...body]);
      onlyProtocolErrors(() => decodeMessage(msg, ctx));
      onlyProtocolErrors(() => new BgpFramer().push(msg));
      onlyProtocolErrors(() => decodeMessage(body, ctx));
    }),
    { numRuns: 3000 },
  );
});

test("mutated valid UPDATEs: only BgpProtocolError", () => {
  const ctx: CodecOptions = { as4: true, addPath: { ipv4: false, ipv6: false } };
  fc.assert(
    fc.property(updateArb(ctx), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), (u, flips) => {
      let wire: Uint8Array;
      try {
        wire = encodeMessage(u, ctx);
      } catch {
        return;
      }
      for (const [at, v] of flips) wire[19 + (at % Math.max(1, wire.length - 19))] = v;
      onlyProtocolErrors(() => decodeMessage(wire, ctx));
    }),
    { numRuns: 1000 },
  );
});
