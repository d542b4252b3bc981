// RFC 7606's rules that depend on who sent the UPDATE (checked at import, where the peer is known):
// §7.2 confederation segments and a wrong leftmost AS from an external peer are treat-as-withdraw;
// §7.5/§7.9/§7.10 LOCAL_PREF, ORIGINATOR_ID and CLUSTER_LIST from an external peer are discarded,
// so their malformation does not withdraw the route, while from an internal peer it does.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseIP } from "../../net/ip.js";
import { parsePrefix } from "../../net/prefix.js";
import { decodeMessage } from "../wire/messages.js";
import type { UpdateMessage } from "../wire/update.js";
import { updateBytes, CODEC_AS4 } from "../../testkit/bgp/wire/rfc7606-corpus.js";
import { importUpdate } from "./import.js";
import type { PeerInfo } from "./types.js";

const ID = { asNumber: 64512, routerId: "10.255.0.1", clusterId: "10.255.0.1" };
const EBGP: PeerInfo = { id: "10.0.1.1", address: parseIP("10.0.1.1"), asNumber: 65001, routerId: "10.0.1.1", ibgp: false, rrClient: false };
const IBGP: PeerInfo = { ...EBGP, asNumber: 64512, ibgp: true };

const ORIGIN = [0x40, 1, 1, 0];
const NEXT_HOP = [0x40, 3, 4, 10, 0, 1, 1];
const asPath = (...segs: [number, number[]][]) => {
  const v = segs.flatMap(([type, asns]) => [type, asns.length, ...asns.flatMap((a) => [a >>> 24, (a >>> 16) & 0xff, (a >>> 8) & 0xff, a & 0xff])]);
  return [0x40, 2, v.length, ...v];
};

function imported(attrs: number[], from: PeerInfo) {
  const u = decodeMessage(updateBytes(attrs), CODEC_AS4) as UpdateMessage;
  return importUpdate(u, from, ID, 0);
}

test("eBGP: an AS_PATH that starts with the peer's AS is accepted", () => {
  const r = imported([...ORIGIN, ...asPath([2, [65001, 65002]]), ...NEXT_HOP], EBGP);
  assert.deepEqual([r.announce.length, r.rejected], [1, 0]);
  assert.equal(r.announce[0]!.prefix.toString(), parsePrefix("10.0.0.0/24").toString());
});

test("eBGP: a leftmost AS other than the peer's is treat-as-withdraw", () => {
  const r = imported([...ORIGIN, ...asPath([2, [65009]]), ...NEXT_HOP], EBGP);
  assert.deepEqual([r.announce.length, r.rejected, r.withdraw.length], [0, 1, 1]);
  assert.match(r.treatAsWithdraw!, /does not start with its AS 65001/);
});

test("eBGP: an empty AS_PATH is treat-as-withdraw; from iBGP it is normal", () => {
  assert.equal(imported([...ORIGIN, ...asPath(), ...NEXT_HOP], EBGP).rejected, 1);
  assert.equal(imported([...ORIGIN, ...asPath(), ...NEXT_HOP], IBGP).announce.length, 1);
});

test("eBGP: AS_CONFED_SEQUENCE and AS_CONFED_SET are treat-as-withdraw", () => {
  for (const t of [3, 4]) {
    const r = imported([...ORIGIN, ...asPath([2, [65001]], [t, [65100]]), ...NEXT_HOP], EBGP);
    assert.match(r.treatAsWithdraw ?? "", /confederation/, `segment type ${t}`);
  }
});

test("a malformed LOCAL_PREF, ORIGINATOR_ID or CLUSTER_LIST withdraws from iBGP, is discarded from eBGP", () => {
  const bad = [
    [0x40, 5, 2, 0, 100],
    [0x80, 9, 3, 1, 2, 3],
    [0x80, 10, 6, 1, 2, 3, 4, 5, 6],
  ];
  for (const a of bad) {
    const fromI = imported([...ORIGIN, ...asPath(), ...NEXT_HOP, ...a], IBGP);
    assert.deepEqual([fromI.announce.length, fromI.rejected], [0, 1], `iBGP, attribute ${a[1]}`);
    const fromE = imported([...ORIGIN, ...asPath([2, [65001]]), ...NEXT_HOP, ...a], EBGP);
    assert.deepEqual([fromE.announce.length, fromE.rejected], [1, 0], `eBGP, attribute ${a[1]}`);
    assert.equal(fromE.announce[0]!.attrs.localPref, undefined);
  }
});

test("a malformed COMMUNITIES withdraws whoever sent it", () => {
  const a = [0xc0, 8, 3, 0, 1, 2];
  assert.equal(imported([...ORIGIN, ...asPath([2, [65001]]), ...NEXT_HOP, ...a], EBGP).rejected, 1);
  assert.equal(imported([...ORIGIN, ...asPath(), ...NEXT_HOP, ...a], IBGP).rejected, 1);
});
