// `tabby bgp run` with `installRoutes: true` (issue #3 item 4): the best routes learned from BIRD
// go into the speaker's namespace FIB as protocol 152 routes via BIRD's next hop; a withdrawal
// removes its route; a clean stop removes all of them. Needs root and bird2.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { birdTabbyPair, sh, waitFor } from "./bird-tabby-pair.js";

const pair = birdTabbyPair("ttbi");
const { canRun, dir, control, birdc, peers } = pair;

const BIRD_CONF = `router id 10.98.0.1;
log "${join(dir, "bird.log")}" all;
protocol device { scan time 1; }
protocol static s1 { ipv4; route 10.10.0.0/24 blackhole; }
protocol static s2 { ipv4; route 10.11.0.0/24 blackhole; }
protocol bgp ibgp1 {
  local 10.98.0.1 as 64512; neighbor 10.98.0.2 as 64512;
  hold time 9; connect retry time 1; connect delay time 1; error wait time 1, 5;
  ipv4 { import all; export where source = RTS_STATIC; next hop self; };
}
`;

const TABBY_CONF = `routerId: 10.98.0.2
asNumber: 64512
listen: { address: "::", port: 179 }
control: ${control}
installRoutes: true
peers:
  - { address: 10.98.0.1, asNumber: 64512, holdTime: 9, connectRetry: 1, families: [ipv4] }
announce:
  - { prefix: 10.20.0.0/24 }
`;

before(() => pair.setUp());
after(() => pair.tearDown());

/** tabby's kernel routes (protocol 152) in its namespace: destination → next hops. */
function kernelRoutes(): Map<string, string> {
  const rows = JSON.parse(sh("ip", ["-n", pair.tabbyNetns, "-j", "-4", "route", "show", "proto", "152"]) || "[]") as { dst: string; gateway?: string }[];
  return new Map(rows.map((r) => [r.dst, r.gateway ?? ""]));
}

test("installRoutes: learned routes in the kernel, withdrawals and a clean stop take them out", {
  skip: !canRun && "needs root and bird2",
  timeout: 120000,
}, async () => {
  pair.start(BIRD_CONF, TABBY_CONF);
  try {
    await waitFor("session established", async () => (await peers()).every((p) => p.established));
    await waitFor("both BIRD routes in tabby's kernel", () => kernelRoutes().size === 2);
    assert.deepEqual(Object.fromEntries(kernelRoutes()), { "10.10.0.0/24": "10.98.0.1", "10.11.0.0/24": "10.98.0.1" });
    // tabby's own announcement is not a learned route: it stays out of its FIB
    assert.ok(!kernelRoutes().has("10.20.0.0/24"));

    birdc("disable", "s2");
    await waitFor("the withdrawn route leaves the kernel", () => !kernelRoutes().has("10.11.0.0/24"));
    assert.deepEqual([...kernelRoutes().keys()], ["10.10.0.0/24"]);

    await pair.stopTabby("SIGTERM");
    assert.equal(kernelRoutes().size, 0, "a clean stop removes what it installed");
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- tabby.log ---\n${pair.tabbyLog()}`);
  }
});
