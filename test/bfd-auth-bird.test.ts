// BFD authentication against BIRD 2: BIRD's `authentication meticulous keyed sha1` with a key on
// its interface; tabby's peer 10.98.0.1 has the same key and comes Up on both sides, tabby's peer
// 10.98.0.3 a wrong key: BIRD never brings that one Up and tabby discards BIRD's packets for it
// (BFD_AUTH_FAILED in its log). Needs root and bird; skipped without.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { birdTabbyPair, waitFor } from "./bird-tabby-pair.js";

const pair = birdTabbyPair("ttbfa");
const skip = pair.canRun ? false : "needs root and BIRD 2";

const BIRD = `router id 10.98.0.1;
protocol device {}
protocol bfd {
  interface "eth0" { min rx interval 300 ms; min tx interval 300 ms; multiplier 3; authentication meticulous keyed sha1; password "tabby-bfd-key" { id 7; }; };
}
protocol bgp t1 { local 10.98.0.1 as 65001; neighbor 10.98.0.2 as 65002; hold time 90; bfd on; ipv4 { import none; export none; }; }
protocol bgp t3 { local 10.98.0.3 as 65001; neighbor 10.98.0.4 as 65002; hold time 90; bfd on; ipv4 { import none; export none; }; }
`;

const TABBY = `routerId: 10.98.0.2
asNumber: 65002
control: ${pair.control}
peers:
  - { address: 10.98.0.1, asNumber: 65001, localAddress: 10.98.0.2, holdTime: 90, bfd: { auth: { type: meticulous-keyed-sha1, keyId: 7, key: tabby-bfd-key } } }
  - { address: 10.98.0.3, asNumber: 65001, localAddress: 10.98.0.4, holdTime: 90, bfd: { auth: { type: meticulous-keyed-sha1, keyId: 7, key: not-the-key } } }
`;

function birdBfd(): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of pair.birdc("show", "bfd", "sessions").split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 6 && /^\d+\.\d+\.\d+\.\d+$/.test(f[0]!)) m.set(f[0]!, f[2]!);
  }
  return m;
}

before(() => pair.setUp());
after(async () => {
  await pair.stopTabby().catch(() => {});
  pair.tearDown();
});

test("meticulous keyed SHA1 with BIRD: the right key comes Up, a wrong one never does", { skip, timeout: 60_000 }, async (t) => {
  pair.start(BIRD, TABBY);
  let ok = false;
  t.after(() => {
    if (!ok) console.log(pair.tabbyLog(), pair.birdc("show", "bfd", "sessions"));
  });
  await waitFor("BIRD's BFD session with the right key Up", () => birdBfd().get("10.98.0.2") === "Up");
  const log = () => readFileSync(join(pair.dir, "tabby.log"), "utf8");
  await waitFor("tabby's session Up", () => /bfd session state .*"peer":"10\.98\.0\.1".*"to":"Up"/.test(log()));
  await waitFor("tabby refused BIRD's packets signed with the other key", () => /bfd packet discarded .*"from":"10\.98\.0\.3".*BFD_AUTH_FAILED/.test(log()));
  // a few more seconds of packets: the session with the wrong key stays down on both sides
  await new Promise((r) => setTimeout(r, 3000));
  assert.notEqual(birdBfd().get("10.98.0.4"), "Up");
  assert.doesNotMatch(log(), /bfd session state .*"peer":"10\.98\.0\.3".*"to":"Up"/);
  assert.equal(birdBfd().get("10.98.0.2"), "Up");
  ok = true;
});
