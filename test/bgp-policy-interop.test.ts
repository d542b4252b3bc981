// Interop for policy: BIRD 2 (AS 65001, 10.98.0.1 and .3) and `tabby bgp run` (AS 65002,
// 10.98.0.2 and .4) in two namespaces. On the session with 10.98.0.1 tabby has import and export
// policy: a rejected prefix is neither accepted nor sent, set communities / LOCAL_PREF / MED
// arrive. On the session with 10.98.0.3 tabby has no policy, so (RFC 8212, eBGP) nothing is
// accepted or sent. Needs root and bird2.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { birdTabbyPair, waitFor } from "./bird-tabby-pair.js";

const pair = birdTabbyPair("ttb2p");
const { canRun, dir, control, birdc, peers, routes } = pair;

const BIRD_CONF = `router id 10.98.0.1;
log "${join(dir, "bird.log")}" all;
protocol device { scan time 1; }
protocol static s4 { ipv4; route 10.10.0.0/24 blackhole; route 10.30.0.0/24 blackhole; route 10.30.1.0/26 blackhole; }
protocol bgp ebgp1 {
  local 10.98.0.1 as 65001; neighbor 10.98.0.2 as 65002;
  hold time 9; connect retry time 1; connect delay time 1; error wait time 1, 5;
  ipv4 { import all; export where proto = "s4"; };
}
protocol bgp ebgp2 {
  local 10.98.0.3 as 65001; neighbor 10.98.0.4 as 65002;
  hold time 9; connect retry time 1; connect delay time 1; error wait time 1, 5;
  ipv4 { import all; export where proto = "s4"; };
}
`;

const TABBY_CONF = `routerId: 10.98.0.2
asNumber: 65002
listen: { address: "::", port: 179 }
control: ${control}
peers:
  - address: 10.98.0.1
    asNumber: 65001
    holdTime: 9
    connectRetry: 1
    families: [ipv4]
    import:
      - { match: { prefix: [{ prefix: 10.30.0.0/16, le: 32 }] }, action: reject }
      - { action: accept, set: { localPref: 250, communities: { add: ["65002:7"] } } }
    export:
      - { match: { prefix: [{ prefix: 10.21.0.0/24 }] }, action: reject }
      - { match: { prefix: [{ prefix: 10.20.0.0/16, le: 24 }] }, action: accept, set: { med: 42, communities: { add: ["65002:99"], remove: ["65002:1"] } } }
  - { address: 10.98.0.3, asNumber: 65001, holdTime: 9, connectRetry: 1, families: [ipv4], localAddress: 10.98.0.4 }
announce:
  - { prefix: 10.20.0.0/24, communities: ["65002:1", "65002:2"] }
  - { prefix: 10.21.0.0/24 }
`;

before(() => pair.setUp());
after(() => pair.tearDown());

test("policy with BIRD 2: rejected prefixes stay out, set attributes arrive, RFC 8212 without policy", {
  skip: !canRun && "needs root and bird2",
  timeout: 120000,
}, async () => {
  pair.start(BIRD_CONF, TABBY_CONF);
  try {
    await waitFor("both sessions established", async () => (await peers()).every((p) => p.established));
    await waitFor("tabby has received BIRD's three prefixes on both sessions", async () => (await peers()).every((p) => p.prefixesReceived === 3));

    // import: 10.30.0.0/24 and 10.30.1.0/26 rejected, 10.10.0.0/24 accepted with the set attributes
    const ps = await peers();
    assert.equal(ps.find((p) => p.address === "10.98.0.1")!.prefixesAccepted, 1);
    assert.equal(ps.find((p) => p.address === "10.98.0.3")!.prefixesAccepted, 0, "RFC 8212: no import policy, nothing accepted");
    const learned = (await routes()).filter((r) => r.paths.some((p) => p.peer !== "local"));
    assert.deepEqual(
      learned.map((r) => r.prefix),
      ["10.10.0.0/24"],
    );
    const p = learned[0]!.paths[0]!;
    assert.equal(p.peer, "10.98.0.1");
    assert.equal(p.localPref, 250);
    assert.deepEqual(p.communities, ["65002:7"]);

    // export: 10.21.0.0/24 rejected, 10.20.0.0/24 with MED 42 and 65002:1 replaced by 65002:99
    await waitFor("BIRD learns 10.20.0.0/24 from tabby", () => birdc("show", "route", "protocol", "ebgp1").includes("10.20.0.0/24"));
    const e = birdc("show", "route", "all", "protocol", "ebgp1");
    assert.ok(!e.includes("10.21.0.0/24"), e);
    assert.match(e, /BGP\.community: \(65002,2\) \(65002,99\)/);
    assert.match(e, /BGP\.med: 42/);
    assert.match(e, /BGP\.next_hop: 10\.98\.0\.2/);
    assert.ok(!birdc("show", "route", "protocol", "ebgp2").includes("10.2"), "RFC 8212: no export policy, nothing sent");
    assert.equal(ps.find((p) => p.address === "10.98.0.3")!.prefixesAdvertised, 0);
  } catch (err) {
    process.stderr.write(`--- tabby log ---\n${pair.tabbyLog()}\n`);
    throw err;
  }
});
