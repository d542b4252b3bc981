// Interop for TCP-MD5 (RFC 2385): BIRD 2 (10.98.0.1 and .3) and `tabby bgp run` (10.98.0.2 and
// .4) in two namespaces. The session 10.98.0.1–.2 has the same password on both sides and
// establishes (whichever side connects: tabby signs its SYN and its listener knows BIRD's key);
// the session 10.98.0.3–.4 has different passwords and never does. Needs root, bird2, koffi.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { birdTabbyPair, waitFor } from "./bird-tabby-pair.js";

const pair = birdTabbyPair("ttb2m");
const { canRun, dir, control, birdc, peers, routes } = pair;

const BIRD_CONF = `router id 10.98.0.1;
log "${join(dir, "bird.log")}" all;
protocol device { scan time 1; }
protocol static s4 { ipv4; route 10.10.0.0/24 blackhole; }
protocol bgp good {
  local 10.98.0.1 as 65001; neighbor 10.98.0.2 as 65002; password "s3cret-key";
  hold time 9; connect retry time 1; connect delay time 1; error wait time 1, 5;
  ipv4 { import all; export where proto = "s4"; };
}
protocol bgp bad {
  local 10.98.0.3 as 65001; neighbor 10.98.0.4 as 65002; password "bird-key";
  hold time 9; connect retry time 1; connect delay time 1; error wait time 1, 5;
  ipv4 { import all; export where proto = "s4"; };
}
`;

const TABBY_CONF = `routerId: 10.98.0.2
asNumber: 65002
listen: { address: "::", port: 179 }
control: ${control}
peers:
  - { address: 10.98.0.1, asNumber: 65001, holdTime: 9, connectRetry: 1, families: [ipv4], password: "s3cret-key", import: [{ action: accept }] }
  - { address: 10.98.0.3, asNumber: 65001, holdTime: 9, connectRetry: 1, families: [ipv4], password: "tabby-key", localAddress: 10.98.0.4, import: [{ action: accept }] }
`;

before(() => pair.setUp());
after(() => pair.tearDown());

test("TCP-MD5 with BIRD 2: matching keys establish, mismatching keys do not", { skip: !canRun && "needs root and bird2", timeout: 120000 }, async () => {
  pair.start(BIRD_CONF, TABBY_CONF);
  try {
    await waitFor("the session with matching keys established", async () => (await peers()).find((p) => p.address === "10.98.0.1")?.established === true);
    await waitFor("BIRD's route over the signed session", async () => (await routes()).some((r) => r.prefix === "10.10.0.0/24"));
    assert.match(birdc("show", "protocols", "good"), /Established/);
    // several connect retries on both sides, none may get through
    await new Promise((r) => setTimeout(r, 8000));
    assert.equal((await peers()).find((p) => p.address === "10.98.0.3")!.established, false);
    assert.doesNotMatch(birdc("show", "protocols", "bad"), /Established/);
    // the TCP handshake itself fails: segments with a wrong signature are dropped by the kernel
    const bad = (await peers()).find((p) => p.address === "10.98.0.3")!;
    assert.ok(!["OpenSent", "OpenConfirm", "Established"].includes(bad.state), bad.state);
  } catch (err) {
    process.stderr.write(`--- tabby log ---\n${pair.tabbyLog()}\n`);
    throw err;
  }
});
