import { test } from "node:test";
import assert from "node:assert/strict";
import { summarizePing } from "./ping-summary.js";

const reply = (seq: number) => `64 bytes from 10.65.0.5: icmp_seq=${seq} ttl=62 time=0.1 ms`;

test("losses and the longest run of them, from the sequence numbers; the last packet sent is not counted", () => {
  const seqs = [1, 2, 3, 7, 8, 10];
  const text = [
    "PING 10.65.0.5 (10.65.0.5) 56(84) bytes of data.",
    ...seqs.map(reply),
    "From 10.99.0.11 icmp_seq=9 Destination Host Unreachable",
    reply(3) + " (DUP!)",
    "",
    "--- 10.65.0.5 ping statistics ---",
    "11 packets transmitted, 6 received, +1 errors, 45% packet loss, time 100ms",
  ].join("\n");
  assert.deepEqual(summarizePing(text, 10), { sent: 10, received: 6, lost: 4, longestRun: 3, longestGapMs: 30 });
});

test("with receive timestamps (-D) the longest gap is the longest silence between replies", () => {
  const at = (t: string, seq: number) => `[${t}] ${reply(seq)}`;
  const text = [at("1000.000000", 1), at("1000.010000", 2), at("1000.530500", 3), at("1000.540000", 4), "5 packets transmitted, 4 received"].join("\n");
  // seq 3 came 520.5 ms after seq 2 although nothing was lost in between: ping itself was late
  assert.deepEqual(summarizePing(text, 10), { sent: 4, received: 4, lost: 0, longestRun: 0, longestGapMs: 0 });
  const lossy = [at("1000.000000", 1), at("1000.010000", 2), at("1000.900000", 9), at("1000.910000", 10), "11 packets transmitted, 4 received"].join("\n");
  assert.deepEqual(summarizePing(lossy, 10), { sent: 10, received: 4, lost: 6, longestRun: 6, longestGapMs: 890 });
});

test("nothing lost; no summary line (ping killed): the highest sequence number seen stands for what was sent", () => {
  const text = [1, 2, 3, 4].map(reply).join("\n");
  assert.deepEqual(summarizePing(text, 10), { sent: 3, received: 3, lost: 0, longestRun: 0, longestGapMs: 0 });
  assert.deepEqual(summarizePing("", 10), { sent: 0, received: 0, lost: 0, longestRun: 0, longestGapMs: 0 });
});

test("property: lost + received = sent, the longest run never exceeds what was lost", () => {
  for (let i = 0; i < 200; i++) {
    const n = 2 + Math.floor(Math.random() * 300);
    const got = Array.from({ length: n }, (_, k) => k + 1).filter(() => Math.random() < 0.8);
    const s = summarizePing(got.map(reply).join("\n") + `\n${n} packets transmitted, ${got.length} received`, 10);
    assert.equal(s.sent, n - 1);
    assert.equal(s.lost + s.received, s.sent);
    assert.ok(s.longestRun <= s.lost);
    assert.equal(s.longestGapMs, s.longestRun * 10);
  }
});
