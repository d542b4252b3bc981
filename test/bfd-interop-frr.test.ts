// BFD interop with FRR 8.4 (bgpd + bfdd; zebra runs too, since bgpd asks bfdd for sessions
// through zebra): `tabby bgp run` and FRR in two namespaces joined by a veth, eBGP over IPv4 and
// over IPv6 with `neighbor X bfd` (bfdd's defaults 300 ms / 300 ms / 3) and a BGP hold time of
// 90 s; tabby's peers have `bfd: true` (the same defaults). The BFD sessions come up on both
// sides (FRR's `show bfd peers json`, tabby's log of state changes) with the negotiated timers;
// then every packet between the namespaces is dropped (nft, in FRR's namespace) and both sides'
// BFD go down by detection timeout (diag 1), and both BGP sessions are taken down by BFD (FRR:
// Cease/10 "BFD Down" sent; tabby: Cease 6/10 sent) long before the 90 s hold time (polling bounded
// by 15 s). Private config, pid, log and socket directory; the daemons run as FRR's user in it.
// Needs root and FRR; skipped without.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { queryControl } from "../src/bgp/control.js";
import type { PeerStatus } from "../src/bgp/speaker.js";
import type { BfdSessionStatus } from "../src/bfd/service.js";
import { sh, waitFor } from "./bird-tabby-pair.js";
import { stopByPidFile, deleteNetns } from "./helpers.js";

const FRR = "/usr/lib/frr";
const hasFrr = ["zebra", "bfdd", "bgpd"].every((d) => existsSync(join(FRR, d))) && existsSync("/usr/bin/vtysh");
const frrUser = (() => {
  try {
    return { uid: Number(sh("id", ["-u", "frr"]).trim()), gid: Number(sh("id", ["-g", "frr"]).trim()) };
  } catch {
    return undefined;
  }
})();
const skip = process.getuid?.() !== 0 ? "needs root" : !hasFrr || !frrUser ? "needs FRR (zebra, bfdd, bgpd, vtysh and the frr user)" : false;

const TAG = `ttbff${process.pid}`;
const NS = { tabby: `${TAG}t`, frr: `${TAG}f` };
const dir = mkdtempSync(join(tmpdir(), "ttbff-"));
// FRR's directory belongs to the frr user; tabby's control socket needs one only root can write
const tabbyDir = mkdtempSync(join(tmpdir(), "ttbff-tabby-"));
const control = join(tabbyDir, "tabby.sock");
const main = new URL("../src/cli/main.js", import.meta.url).pathname;
let tabby: ChildProcess | undefined;
const DAEMONS = ["zebra", "bfdd", "bgpd"] as const;

const vtysh = (daemon: string, cmd: string) => sh("vtysh", ["--vty_socket", dir, "--config_dir", dir, "-d", daemon, "-c", cmd]);
const tabbyLog = () => (existsSync(join(dir, "tabby.log")) ? readFileSync(join(dir, "tabby.log"), "utf8") : "");
const peers = async () => (await queryControl(control, { op: "peers" })) as PeerStatus[];
const tabbyBfd = async () => new Map(((await queryControl(control, { op: "bfd" })) as BfdSessionStatus[]).map((s) => [s.peer, s]));

interface FrrBfdPeer {
  peer: string;
  status: string;
  diagnostic: string;
  "receive-interval": number;
  "transmit-interval": number;
  "detect-multiplier": number;
  "remote-receive-interval": number;
  "remote-transmit-interval": number;
  "remote-detect-multiplier": number;
}
const frrBfd = () => new Map((JSON.parse(vtysh("bfdd", "show bfd peers json")) as FrrBfdPeer[]).map((p) => [p.peer, p]));
const frrNeighbor = (addr: string) => (JSON.parse(vtysh("bgpd", `show bgp neighbors ${addr} json`)) as Record<string, Record<string, unknown>>)[addr] ?? {};

/** tabby's "bfd session state" log lines for a peer, as "from>to/diag", from log offset `since` on. */
function tabbyBfdTransitions(peer: string, since = 0): string[] {
  return tabbyLog()
    .slice(since)
    .split("\n")
    .filter((l) => l.includes(" bfd session state ") && l.includes(`"peer":"${peer}"`))
    .map((l) => JSON.parse(l.slice(l.indexOf("{"))) as { from: string; to: string; diag: number })
    .map((f) => `${f.from}>${f.to}/${f.diag}`);
}

before(() => {
  if (skip) return;
  for (const ns of Object.values(NS)) sh("ip", ["netns", "add", ns]);
  sh("ip", ["link", "add", `${TAG}x`, "netns", NS.frr, "type", "veth", "peer", "name", "eth0", "netns", NS.tabby]);
  sh("ip", ["-n", NS.frr, "link", "set", `${TAG}x`, "name", "eth0"]);
  for (const [ns, n] of [
    [NS.frr, 1],
    [NS.tabby, 2],
  ] as const) {
    sh("ip", ["-n", ns, "addr", "add", `10.97.0.${n}/24`, "dev", "eth0"]);
    sh("ip", ["-n", ns, "addr", "add", `fd97::${n}/64`, "dev", "eth0", "nodad"]);
    sh("ip", ["-n", ns, "link", "set", "lo", "up"]);
    sh("ip", ["-n", ns, "link", "set", "eth0", "up"]);
  }
});

after(() => {
  if (skip) return;
  if (tabby?.pid && tabby.exitCode === null && tabby.signalCode === null) process.kill(tabby.pid, "SIGKILL");
  for (const d of DAEMONS) {
    const pidFile = join(dir, `${d}.pid`);
    stopByPidFile(pidFile);
  }
  deleteNetns(Object.values(NS));
  rmSync(dir, { recursive: true, force: true });
  rmSync(tabbyDir, { recursive: true, force: true });
});

function startFrr(): void {
  writeFileSync(join(dir, "zebra.conf"), `hostname ttz\nlog file ${dir}/zebra.log\n`);
  writeFileSync(join(dir, "bfdd.conf"), `hostname ttb\nlog file ${dir}/bfdd.log debugging\ndebug bfd peer\ndebug bfd zebra\n`);
  writeFileSync(
    join(dir, "bgpd.conf"),
    `hostname ttg
log file ${dir}/bgpd.log debugging
debug bgp neighbor-events
debug bgp bfd
router bgp 65001
 bgp router-id 10.97.0.1
 no bgp ebgp-requires-policy
 neighbor 10.97.0.2 remote-as 65002
 neighbor 10.97.0.2 timers 30 90
 neighbor 10.97.0.2 timers connect 1
 neighbor 10.97.0.2 bfd
 neighbor fd97::2 remote-as 65002
 neighbor fd97::2 timers 30 90
 neighbor fd97::2 timers connect 1
 neighbor fd97::2 bfd
 address-family ipv4 unicast
  no neighbor fd97::2 activate
 exit-address-family
 address-family ipv6 unicast
  neighbor fd97::2 activate
 exit-address-family
`,
  );
  writeFileSync(join(dir, "vtysh.conf"), "");
  // the daemons drop to FRR's user: the directory is theirs
  chmodSync(dir, 0o755);
  for (const f of ["", "zebra.conf", "bfdd.conf", "bgpd.conf", "vtysh.conf"]) chownSync(join(dir, f), frrUser!.uid, frrUser!.gid);
  // -P 0: no TCP vty; zebra's API socket, bfdd's control socket and the vty sockets all in `dir`
  const common = (d: string) => ["-d", "-P", "0", "-f", join(dir, `${d}.conf`), "-i", join(dir, `${d}.pid`), "--vty_socket", dir, "-z", join(dir, "zserv.api")];
  sh("ip", ["netns", "exec", NS.frr, join(FRR, "zebra"), ...common("zebra")]);
  sh("ip", ["netns", "exec", NS.frr, join(FRR, "bfdd"), ...common("bfdd"), "--bfdctl", join(dir, "bfdd.sock")]);
  sh("ip", ["netns", "exec", NS.frr, join(FRR, "bgpd"), ...common("bgpd"), "-p", "179"]);
}

function startTabby(): void {
  writeFileSync(
    join(dir, "tabby.yaml"),
    `routerId: 10.97.0.2
asNumber: 65002
control: ${control}
peers:
  - { address: 10.97.0.1, asNumber: 65001, localAddress: 10.97.0.2, holdTime: 90, families: [ipv4], bfd: true }
  - { address: "fd97::1", asNumber: 65001, localAddress: "fd97::2", holdTime: 90, families: [ipv6], bfd: true }
`,
  );
  const logFd = openSync(join(dir, "tabby.log"), "a");
  tabby = spawn("ip", ["netns", "exec", NS.tabby, process.execPath, main, "bgp", "run", "-c", join(dir, "tabby.yaml"), "-v"], {
    stdio: ["ignore", logFd, logFd],
  });
}

test("BFD with FRR bfdd: Up on both sides, and a cut path takes BFD and BGP down on both", { skip, timeout: 120_000 }, async (t) => {
  startFrr();
  startTabby();
  let ok = false;
  t.after(() => {
    if (!ok) {
      console.log(tabbyLog().slice(-4000));
      for (const f of ["bfdd.log", "bgpd.log"]) if (existsSync(join(dir, f))) console.log(readFileSync(join(dir, f), "utf8").slice(-3000));
      for (const a of ["10.97.0.2", "fd97::2"]) {
        const n = frrNeighbor(a);
        console.log(a, n.bgpState, n.lastResetDueTo, n.lastResetCode, n.lastNotificationReason);
      }
    }
  });
  await waitFor("both BGP sessions Established", async () => (await peers()).length === 2 && (await peers()).every((p) => p.established), 60_000);
  await waitFor("FRR's BFD peers up", () => {
    const b = frrBfd();
    return b.get("10.97.0.2")?.status === "up" && b.get("fd97::2")?.status === "up";
  });
  await waitFor(
    "tabby's BFD sessions Up",
    () => tabbyBfdTransitions("10.97.0.1").some((x) => x.includes(">Up")) && tabbyBfdTransitions("fd97::1").some((x) => x.includes(">Up")),
  );
  // FRR sees our timers once our poll sequence has run: 300 ms both ways, multiplier 3
  await waitFor("FRR has tabby's fast timers", () => {
    const p = frrBfd().get("10.97.0.2");
    return p?.["remote-transmit-interval"] === 300 && p["remote-receive-interval"] === 300 && p["remote-detect-multiplier"] === 3;
  });
  assert.equal(frrBfd().get("fd97::2")?.["remote-transmit-interval"], 300);
  // tabby's side: Up, 300 ms out, 3 × 300 ms to detect, and `tabby bgp bfd` shows it
  await waitFor("tabby on the fast timers", async () =>
    [...(await tabbyBfd()).values()].every((s) => s.state === "Up" && s.txIntervalMs === 300 && s.detectionTimeMs === 900),
  );
  assert.deepEqual([...(await tabbyBfd()).keys()].sort(), ["10.97.0.1", "fd97::1"]);
  const shown = sh(process.execPath, [main, "bgp", "bfd", "--control", control]);
  assert.match(shown, /^PEER\s+LOCAL\s+HOPS\s+STATE/);
  assert.match(shown, /\n10\.97\.0\.1\s+10\.97\.0\.2\s+single\s+Up\s+Up\s+300\s+900\s/);

  // only what happens after the cut counts (a flap before it would otherwise satisfy the checks)
  const cutAt = tabbyLog().length;
  // cut the path: every packet in and out of FRR's eth0 is dropped
  sh("ip", [
    "netns",
    "exec",
    NS.frr,
    "nft",
    "add table inet ttbfcut; add chain inet ttbfcut in { type filter hook input priority 0; iifname eth0 drop; }; add chain inet ttbfcut out { type filter hook output priority 0; oifname eth0 drop; }",
  ]);

  await waitFor(
    "tabby's BFD Down by timeout",
    () => tabbyBfdTransitions("10.97.0.1", cutAt).includes("Up>Down/1") && tabbyBfdTransitions("fd97::1", cutAt).includes("Up>Down/1"),
    15_000,
  );
  await waitFor(
    "FRR's BFD down by timeout",
    () => {
      const b = frrBfd();
      return [...b.values()].length === 2 && [...b.values()].every((p) => p.status === "down" && /detection time expired/.test(p.diagnostic));
    },
    15_000,
  );
  await waitFor("tabby's BGP sessions down", async () => (await peers()).every((p) => !p.established), 15_000);
  assert.ok([...(await tabbyBfd()).values()].every((s) => s.state !== "Up"));
  assert.match(tabbyLog().slice(cutAt), /BFD down: resetting the BGP session .*"peer":"10\.97\.0\.1"/);
  assert.match(tabbyLog().slice(cutAt), /BFD down: resetting the BGP session .*"peer":"fd97::1"/);
  await waitFor(
    "FRR's BGP sessions down because of BFD",
    () => {
      return ["10.97.0.2", "fd97::2"].every((a) => {
        const n = frrNeighbor(a);
        // FRR resets the session itself with Cease/10, as tabby does
        return n.bgpState !== "Established" && /BFD Down/.test(String(n.lastNotificationReason ?? ""));
      });
    },
    15_000,
  );

  // healed: BFD and BGP come back
  sh("ip", ["netns", "exec", NS.frr, "nft", "delete table inet ttbfcut"]);
  await waitFor("FRR's BFD up again", () => [...frrBfd().values()].every((p) => p.status === "up"));
  await waitFor("BGP Established again", async () => (await peers()).every((p) => p.established), 60_000);
  ok = true;
});
