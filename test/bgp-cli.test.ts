// `tabby bgp peers|routes|refresh` against a control socket served for a stand-in speaker, and the
// `tabby bgp run` config parser.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { serveControl, queryControl } from "../src/bgp/control.js";
import { run as peersRun } from "../src/cli/bgp-peers.js";
import { run as routesRun } from "../src/cli/bgp-routes.js";
import { run as refreshRun } from "../src/cli/bgp-refresh.js";
import { parseConfig } from "../src/cli/bgp-run.js";
import type { PeerStatus, RouteView } from "../src/bgp/speaker.js";

const PEERS: PeerStatus[] = [
  {
    address: "10.0.0.2",
    asNumber: 64512,
    state: "Established",
    established: true,
    uptimeSeconds: 75,
    prefixesReceived: 3,
    prefixesAccepted: 2,
    prefixesAdvertised: 1,
  },
  {
    address: "fd00::3",
    asNumber: 65001,
    state: "Active",
    established: false,
    prefixesReceived: 0,
    prefixesAccepted: 0,
    prefixesAdvertised: 0,
    lastError: "received NOTIFICATION 6/2",
  },
];
const ROUTES: RouteView[] = [
  {
    prefix: "10.1.0.0/24",
    paths: [
      {
        nextHop: "10.0.0.2",
        asPath: [],
        origin: "igp",
        localPref: 100,
        communities: ["64512:1"],
        largeCommunities: ["64512:7:8"],
        peer: "10.0.0.2",
        best: true,
      },
    ],
  },
];
const fake = {
  peerStatus: () => PEERS,
  routes: (family?: "ipv4" | "ipv6") => (family === "ipv6" ? [] : ROUTES),
  refreshAsked: [] as [string | undefined, string | undefined][],
  requestRefresh(peer?: string, family?: "ipv4" | "ipv6") {
    this.refreshAsked.push([peer, family]);
    return family ? 1 : 2;
  },
};

function io() {
  let out = "";
  const stdout = new Writable({
    write(c, _e, cb) {
      out += String(c);
      cb();
    },
  });
  return { io: { stdout, stderr: stdout, env: {} }, out: () => out };
}

test("bgp peers and bgp routes read the control socket", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ttbg-cli-"));
  const sock = join(dir, "bgp.sock");
  const server = await serveControl(fake, sock);
  try {
    const a = io();
    assert.equal(await peersRun(["--control", sock], a.io), 0);
    const lines = a.out().trimEnd().split("\n");
    assert.match(lines[0]!, /^PEER\s+AS\s+STATE\s+UPTIME/);
    assert.match(lines[1]!, /^10\.0\.0\.2\s+64512\s+Established\s+1m15s\s+3\s+2\s+1/);
    assert.match(lines[2]!, /fd00::3.*Active.*received NOTIFICATION 6\/2/);
    const j = io();
    await peersRun(["--control", sock, "-o", "json"], j.io);
    assert.deepEqual(JSON.parse(j.out()), PEERS);
    const r = io();
    assert.equal(await routesRun(["--control", sock], r.io), 0);
    assert.match(r.out(), /\*>\s+10\.1\.0\.0\/24\s+10\.0\.0\.2\s+10\.0\.0\.2\s+igp\s+100\s+64512:1 64512:7:8/);
    const r6 = io();
    await routesRun(["--control", sock, "--family", "ipv6", "-o", "json"], r6.io);
    assert.deepEqual(JSON.parse(r6.out()), []);
    await assert.rejects(queryControl(sock, { op: "nope" } as never), /unknown op/);
    const f = io();
    assert.equal(await refreshRun(["--control", sock, "--peer", "10.0.0.2", "--family", "ipv4"], f.io), 0);
    assert.equal(f.out(), "1 route refresh request(s) sent\n");
    const fj = io();
    await refreshRun(["--control", sock, "-o", "json"], fj.io);
    assert.deepEqual(JSON.parse(fj.out()), { requests: 2 });
    assert.deepEqual(fake.refreshAsked, [
      ["10.0.0.2", "ipv4"],
      [undefined, undefined],
    ]);
    await assert.rejects(refreshRun(["--control", sock, "--family", "ipv5"], io().io), /ipv4 or ipv6/);
  } finally {
    await new Promise<void>((res) => server.close(() => res()));
    rmSync(dir, { recursive: true, force: true });
  }
});

test("bgp run config: YAML with peers and announcements; missing fields are usage errors", () => {
  const c = parseConfig(`
routerId: 10.0.0.1
asNumber: 64512
listen: { address: 10.0.0.1, port: 179 }
control: /tmp/x.sock
peers:
  - { address: 10.0.0.2, asNumber: 64512, routeReflectorClient: true }
announce:
  - { prefix: 10.1.0.0/24, communities: ["64512:1"] }
`);
  assert.equal(c.peers?.[0]?.routeReflectorClient, true);
  assert.equal(c.announce?.[0]?.prefix, "10.1.0.0/24");
  assert.throws(() => parseConfig("asNumber: 1"), /routerId/);
  assert.throws(() => parseConfig("routerId: 1.2.3.4\nasNumber: 1\npeers: [{ address: 1.2.3.5 }]"), /asNumber/);
  const gr = parseConfig("routerId: 1.2.3.4\nasNumber: 1\ngracefulRestart: { restartTime: 60 }\npeers: [{ address: 1.2.3.5, asNumber: 1, nextHopSelf: true }]");
  assert.deepEqual(gr.gracefulRestart, { restartTime: 60 });
  assert.equal(gr.peers?.[0]?.nextHopSelf, true);
  assert.throws(() => parseConfig("routerId: 1.2.3.4\nasNumber: 1\ngracefulRestart: { restartTme: 60 }"), /unknown key restartTme/);
  assert.throws(() => parseConfig("routerId: 1.2.3.4\nasNumber: 1\npeers: [{ address: 1.2.3.5, asNumber: 1, nextHopSelf: yes please }]"), /nextHopSelf/);
  assert.equal(parseConfig("routerId: 1.2.3.4\nasNumber: 1\ninstallRoutes: true").installRoutes, true);
  assert.throws(() => parseConfig("routerId: 1.2.3.4\nasNumber: 1\ninstallRoutes: sometimes"), /installRoutes is true or false/);
});
