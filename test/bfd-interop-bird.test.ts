// BFD interop with BIRD 2 (`protocol bfd` and `bfd on` in its bgp protocols): `tabby bgp run`
// and BIRD in two namespaces joined by a veth, eBGP over IPv4 and over IPv6, each with BFD at
// 300 ms / 300 ms / 3 and a BGP hold time of 90 s. The BFD sessions come Up on both sides with
// the negotiated timers; then every packet between the namespaces is dropped (nft, in tabby's
// namespace) and both sides' BFD go Down by detection timeout, and both BGP sessions are taken
// down by BFD — seen in tabby's log (Cease 6/10 sent), in its peer state and in BIRD's
// "BFD session down" — long before the 90 s hold time could explain it (the polling is bounded
// by 15 s). Graceful restart is on for the iBGP session, and BIRD's route over it is withdrawn
// at once all the same (BFD down means the path is gone). Needs root and bird; skipped without.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { birdTabbyPair, sh, waitFor } from "./bird-tabby-pair.js";

const pair = birdTabbyPair("ttbfb");
const skip = pair.canRun ? false : "needs root and BIRD 2";

const BIRD = `router id 10.98.0.1;
log "${pair.dir}/bird.log" all;
protocol device {}
protocol bfd {
  interface "eth0" { min rx interval 300 ms; min tx interval 300 ms; multiplier 3; };
  multihop { min rx interval 300 ms; min tx interval 300 ms; multiplier 3; };
}
protocol bgp t4 {
  local 10.98.0.1 as 65001; neighbor 10.98.0.2 as 65002;
  hold time 90; connect retry time 1; error wait time 1, 2; bfd on;
  ipv4 { import all; export none; };
}
protocol static { ipv4; route 10.77.0.0/24 blackhole; }
protocol bgp mh {
  local 10.98.0.3 as 65002; neighbor 10.98.0.4 as 65002; multihop;
  hold time 90; connect retry time 1; error wait time 1, 2; bfd on;
  graceful restart on; long lived graceful restart off;
  ipv4 { import all; export where source = RTS_STATIC; next hop self; };
}
protocol bgp t6 {
  local fd98::1 as 65001; neighbor fd98::2 as 65002;
  hold time 90; connect retry time 1; error wait time 1, 2; bfd on;
  ipv6 { import all; export none; };
}
`;

const TABBY = `routerId: 10.98.0.2
asNumber: 65002
gracefulRestart: true
control: ${pair.control}
peers:
  - { address: 10.98.0.1, asNumber: 65001, localAddress: 10.98.0.2, holdTime: 90, families: [ipv4], bfd: true }
  - { address: 10.98.0.3, asNumber: 65002, localAddress: 10.98.0.4, holdTime: 90, families: [ipv4], bfd: { multihop: true } }
  - { address: "fd98::1", asNumber: 65001, localAddress: "fd98::2", holdTime: 90, families: [ipv6], bfd: { minRx: 300, minTx: 300, multiplier: 3 } }
`;

/** BIRD's `show bfd sessions` rows: address → state, interval, timeout. */
function birdBfd(): Map<string, { state: string; interval: number; timeout: number }> {
  const m = new Map<string, { state: string; interval: number; timeout: number }>();
  for (const line of pair.birdc("show", "bfd", "sessions").split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 6 && /^[0-9a-f.:]+$/.test(f[0]!) && f[0]!.includes(f[0]!.includes(":") ? ":" : ".")) {
      m.set(f[0]!, { state: f[2]!, interval: Number(f.at(-2)), timeout: Number(f.at(-1)) });
    }
  }
  return m;
}

const tabbyLog = () => readFileSync(join(pair.dir, "tabby.log"), "utf8");
/** tabby's "bfd session state" log lines for a peer, as "from>to/diag", from log offset `since` on. */
function tabbyBfdTransitions(peer: string, since = 0): string[] {
  return tabbyLog()
    .slice(since)
    .split("\n")
    .filter((l) => l.includes(" bfd session state ") && l.includes(`"peer":"${peer}"`))
    .map((l) => JSON.parse(l.slice(l.indexOf("{"))) as { from: string; to: string; diag: number })
    .map((f) => `${f.from}>${f.to}/${f.diag}`);
}

before(() => pair.setUp());
after(async () => {
  await pair.stopTabby().catch(() => {});
  pair.tearDown();
});

test("BFD with BIRD: Up on both sides, and a cut path takes BFD and BGP down on both", { skip, timeout: 90_000 }, async (t) => {
  pair.start(BIRD, TABBY);
  let ok = false;
  t.after(() => {
    if (!ok) console.log(pair.tabbyLog(), pair.birdc("show", "bfd", "sessions"), readFileSync(join(pair.dir, "bird.log"), "utf8").slice(-3000));
  });
  await waitFor("all BGP sessions Established", async () => (await pair.peers()).every((p) => p.established));
  // BIRD's route over the iBGP session with graceful restart negotiated both ways
  await waitFor("BIRD's route learned", async () => (await pair.routes()).some((r) => r.prefix === "10.77.0.0/24"));
  await waitFor("BIRD's BFD sessions Up", () => {
    const b = birdBfd();
    return b.get("10.98.0.2")?.state === "Up" && b.get("fd98::2")?.state === "Up" && b.get("10.98.0.4")?.state === "Up";
  });
  await waitFor("tabby's BFD sessions Up", () => ["10.98.0.1", "10.98.0.3", "fd98::1"].every((a) => tabbyBfdTransitions(a).some((x) => x.includes(">Up"))));
  // negotiated: BIRD transmits every 300 ms and times out after 3 × 300 ms
  await waitFor("BIRD on the fast timers after the poll sequence", () => {
    const b = birdBfd().get("10.98.0.2");
    return b?.interval === 0.3 && b.timeout === 0.9;
  });
  assert.equal(birdBfd().get("fd98::2")?.timeout, 0.9);

  // only what happens after the cut counts (a flap before it would otherwise satisfy the checks)
  const cutAt = tabbyLog().length;
  // cut the path: every packet in and out of tabby's eth0 is dropped
  sh("ip", [
    "netns",
    "exec",
    pair.tabbyNetns,
    "nft",
    "add table inet ttbfcut; add chain inet ttbfcut in { type filter hook input priority 0; iifname eth0 drop; }; add chain inet ttbfcut out { type filter hook output priority 0; oifname eth0 drop; }",
  ]);

  // both sides' BFD detect it by timeout (diag 1: control detection time expired)
  await waitFor(
    "tabby's BFD Down by timeout",
    () => ["10.98.0.1", "10.98.0.3", "fd98::1"].every((a) => tabbyBfdTransitions(a, cutAt).includes("Up>Down/1")),
    15_000,
  );
  await waitFor(
    "BIRD's BFD Down",
    () => {
      const b = birdBfd();
      return b.get("10.98.0.2")?.state === "Down" && b.get("fd98::2")?.state === "Down" && b.get("10.98.0.4")?.state === "Down";
    },
    15_000,
  );
  // and both BGP sessions were taken down by BFD, not by the 90 s hold timer
  await waitFor("tabby's BGP sessions down", async () => (await pair.peers()).every((p) => !p.established), 15_000);
  assert.match(tabbyLog().slice(cutAt), /BFD down: resetting the BGP session .*"peer":"10\.98\.0\.1"/);
  assert.match(tabbyLog().slice(cutAt), /BFD down: resetting the BGP session .*"peer":"fd98::1"/);
  assert.match(tabbyLog().slice(cutAt), /BFD down: resetting the BGP session .*"peer":"10\.98\.0\.3"/);
  assert.doesNotMatch(tabbyLog(), /hold timer/i);
  // graceful restart would keep the routes of a peer that merely went away; the path is gone, so they are not kept
  assert.equal(
    (await pair.routes()).some((r) => r.prefix === "10.77.0.0/24"),
    false,
    "BIRD's route withdrawn despite graceful restart",
  );
  await waitFor(
    "BIRD's BGP sessions down because of BFD",
    () => {
      const out = ["t4", "t6", "mh"].map((p) => pair.birdc("show", "protocols", "all", p)).join("");
      return (out.match(/BFD session down/g) ?? []).length >= 3 && !/Established/.test(out);
    },
    15_000,
  );

  // healed: BFD and BGP come back
  sh("ip", ["netns", "exec", pair.tabbyNetns, "nft", "delete table inet ttbfcut"]);
  await waitFor("BFD Up again on both", () => {
    const b = birdBfd();
    return b.get("10.98.0.2")?.state === "Up" && b.get("fd98::2")?.state === "Up" && b.get("10.98.0.4")?.state === "Up";
  });
  await waitFor("BGP Established again", async () => (await pair.peers()).every((p) => p.established));
  await waitFor("BIRD's route back", async () => (await pair.routes()).some((r) => r.prefix === "10.77.0.0/24"));
  ok = true;
});
