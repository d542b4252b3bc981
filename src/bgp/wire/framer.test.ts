// The framer: a stream of messages split at every byte offset yields the same messages; bad
// markers and lengths are BgpProtocolErrors with the right NOTIFICATION.
import { test } from "node:test";
import assert from "node:assert/strict";
import { BgpFramer } from "./framer.js";
import { encodeMessage } from "./messages.js";
import { endOfRib } from "./update.js";
import { BgpProtocolError } from "../errors.js";
import { parsePrefix } from "../../net/prefix.js";
import { parseIP } from "../../net/ip.js";

const stream = Buffer.concat([
  encodeMessage({ type: "keepalive" }),
  encodeMessage({
    type: "update",
    withdrawn: [],
    attributes: { origin: 0, asPath: [], nextHop: parseIP("10.0.0.1"), localPref: 100 },
    nlri: [
      { prefix: parsePrefix("10.1.0.0/24"), pathId: 0 },
      { prefix: parsePrefix("10.2.0.0/25"), pathId: 0 },
    ],
  }),
  encodeMessage(endOfRib("ipv6")),
  encodeMessage({ type: "notification", code: 6, subcode: 2, data: new Uint8Array(0) }),
]);

function lengths(msgs: Uint8Array[]): number[] {
  return msgs.map((m) => m.length);
}

test("split at every byte offset (and in three pieces)", () => {
  const whole = new BgpFramer().push(stream);
  assert.equal(whole.length, 4);
  for (let i = 0; i <= stream.length; i++) {
    const f = new BgpFramer();
    const got = [...f.push(stream.subarray(0, i)), ...f.push(stream.subarray(i))];
    assert.deepEqual(lengths(got), lengths(whole), `split at ${i}`);
    assert.deepEqual(Buffer.concat(got), stream);
    assert.equal(f.buffered, 0);
  }
  for (let i = 0; i < stream.length; i += 7) {
    for (let j = i; j <= stream.length; j += 11) {
      const f = new BgpFramer();
      const got = [...f.push(stream.subarray(0, i)), ...f.push(stream.subarray(i, j)), ...f.push(stream.subarray(j))];
      assert.deepEqual(Buffer.concat(got), stream);
    }
  }
});

test("one byte at a time", () => {
  const f = new BgpFramer();
  const got: Uint8Array[] = [];
  for (const b of stream) got.push(...f.push(Uint8Array.of(b)));
  assert.deepEqual(Buffer.concat(got), stream);
});

function expectProtocolError(fn: () => unknown, code: number, subcode: number): void {
  assert.throws(fn, (e: unknown) => e instanceof BgpProtocolError && e.notifyCode === code && e.notifySubcode === subcode && e.action === "session-reset");
}

test("bad marker → 1/1 Connection Not Synchronized, even before a whole header", () => {
  const bad = Buffer.from(stream.subarray(0, 19));
  bad[3] = 0;
  expectProtocolError(() => new BgpFramer().push(bad), 1, 1);
  expectProtocolError(() => new BgpFramer().push(bad.subarray(0, 5)), 1, 1);
});

test("bad length → 1/2 Bad Message Length with the length as data", () => {
  const short = Buffer.from(stream.subarray(0, 19));
  short[17] = 18;
  expectProtocolError(() => new BgpFramer().push(short), 1, 2);
  const long = Buffer.from(stream.subarray(0, 19));
  long[16] = 0x10;
  long[17] = 0x01; // 4097
  try {
    new BgpFramer().push(long);
    assert.fail("no error");
  } catch (e) {
    assert.ok(e instanceof BgpProtocolError);
    assert.deepEqual([...e.data], [0x10, 0x01]);
  }
});
