// The RFC 7606 corpus: one malformed UPDATE per case the RFC (and RFC 4271, 6793, 8092 as it
// revises them) names, each with the action and NOTIFICATION code/subcode the decoder must give.
// The speaker-level test (../speaker-malformed.test.ts) replays this corpus over a live session.
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeMessage } from "./messages.js";
import type { UpdateMessage } from "./update.js";
import { BgpProtocolError, type ErrorAction } from "../errors.js";
import { MALFORMED_UPDATES, CODEC_AS4, type MalformedCase } from "../../testkit/bgp/wire/rfc7606-corpus.js";

function outcome(c: MalformedCase): { action: ErrorAction | "none"; code?: number; subcode?: number; u?: UpdateMessage } {
  try {
    const u = decodeMessage(c.bytes, c.codec ?? CODEC_AS4) as UpdateMessage;
    const errs = u.errors ?? [];
    if (errs.length === 0) return { action: "none", u };
    const twa = errs.find((e) => e.action === "treat-as-withdraw");
    const worst = twa ?? errs[0]!;
    return { action: worst.action, code: worst.notifyCode, subcode: worst.notifySubcode, u };
  } catch (e) {
    assert.ok(e instanceof BgpProtocolError, `${c.name}: threw ${String(e)}`);
    return { action: e.action, code: e.notifyCode, subcode: e.notifySubcode };
  }
}

for (const c of MALFORMED_UPDATES) {
  test(`RFC 7606 ${c.section}: ${c.name} → ${c.action}`, () => {
    const o = outcome(c);
    assert.equal(o.action, c.action);
    if (c.subcode !== undefined) assert.deepEqual([o.code, o.subcode], [3, c.subcode]);
    if (c.action === "treat-as-withdraw") {
      // the prefixes are still known, so that they can be withdrawn
      const u = o.u!;
      const n = u.nlri.length + (u.attributes.mpReach?.nlri.length ?? 0);
      assert.ok(n > 0, "treat-as-withdraw must still return the NLRI to withdraw");
    }
    if (c.action === "attribute-discard" && c.discarded) {
      assert.equal((o.u!.attributes as Record<string, unknown>)[c.discarded], undefined, `${c.discarded} must be discarded`);
      assert.ok(o.u!.nlri.length > 0);
    }
  });
}

test("the corpus covers every action", () => {
  const actions = new Set(MALFORMED_UPDATES.map((c) => c.action));
  assert.deepEqual([...actions].sort(), ["attribute-discard", "none", "session-reset", "treat-as-withdraw"]);
});

test("a valid extended community passes through unchanged, without the Partial bit", () => {
  const c = MALFORMED_UPDATES.find((x) => x.name === "EXTENDED_COMMUNITIES of 8 bytes")!;
  const u = decodeMessage(c.bytes, CODEC_AS4) as UpdateMessage;
  assert.deepEqual(u.attributes.unknown, [{ flags: 0xc0, type: 16, data: Uint8Array.of(0x00, 0x02, 0xfd, 0xe8, 0, 0, 0, 7) }]);
});
