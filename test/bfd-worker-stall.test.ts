// BFD in its own thread (src/bfd/worker-client.ts) against BIRD 2's BFD, across a veth between
// two namespaces: one session at 100 ms × 3 (a 300 ms detection time), run by
// test/bfd-stall-peer.ts, whose main thread is then kept in a synchronous busy loop for 1.5 s
// (5 × the detection time), as a big policy render, a GC pause or a route dump would.
// - With the worker (how `tabby node run` and `tabby bgp run` run BFD), BIRD never sees the
//   session leave Up (its trace log has no "Up to Down"), and our watcher gets no onDown.
// - The negative control, the same stall with the service on the main thread (BfdService, as it
//   ran before): BIRD times the session out and our watcher gets its onDown. Kept as a test (a few
//   seconds): it shows that the stall is long enough to fail.
// - With the worker, a real failure (the veth deleted) still reaches the main thread's watcher.
// Needs root and bird; skipped without. Cleans up in after() whatever happened.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { deleteNetns, stopByPidFile } from "./helpers.js";
import { waitFor } from "./bird-tabby-pair.js";

const canRun = process.getuid?.() === 0 && existsSync("/usr/sbin/bird");
const skip = canRun ? false : "needs root and BIRD 2";
const tag = `tbw${process.pid}`;
const nsBird = `${tag}a`;
const nsTabby = `${tag}b`;
const dir = mkdtempSync(join(tmpdir(), "tbw-"));
const birdSock = join(dir, "bird.ctl");
const birdPid = join(dir, "bird.pid");
const birdLogFile = join(dir, "bird.log");
const fixture = new URL("./bfd-stall-peer.js", import.meta.url).pathname;
const peers = new Set<ChildProcess>();

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

before(() => {
  if (!canRun) return;
  sh("ip", ["netns", "add", nsBird]);
  sh("ip", ["netns", "add", nsTabby]);
  sh("ip", ["link", "add", `${tag}v`, "netns", nsBird, "type", "veth", "peer", "name", "eth0", "netns", nsTabby]);
  sh("ip", ["-n", nsBird, "link", "set", `${tag}v`, "name", "eth0"]);
  sh("ip", ["-n", nsBird, "addr", "add", "10.97.0.1/24", "dev", "eth0"]);
  sh("ip", ["-n", nsTabby, "addr", "add", "10.97.0.2/24", "dev", "eth0"]);
  for (const ns of [nsBird, nsTabby]) for (const l of ["lo", "eth0"]) sh("ip", ["-n", ns, "link", "set", l, "up"]);
  writeFileSync(
    join(dir, "bird.conf"),
    `router id 10.97.0.1;
log "${birdLogFile}" all;
protocol device {}
protocol bfd b1 {
  debug { states, events };
  interface "eth0" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; };
  neighbor 10.97.0.2 dev "eth0" local 10.97.0.1;
}
`,
  );
  sh("ip", ["netns", "exec", nsBird, "bird", "-c", join(dir, "bird.conf"), "-s", birdSock, "-P", birdPid]);
});

after(() => {
  for (const p of peers) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
  if (canRun) {
    stopByPidFile(birdPid);
    deleteNetns([nsBird, nsTabby]);
  }
  rmSync(dir, { recursive: true, force: true });
});

/** BIRD's row for our session: state and timeout (seconds). */
function birdSession(): { state: string; timeout: number } | undefined {
  const row = sh("birdc", ["-s", birdSock, "show", "bfd", "sessions"])
    .split("\n")
    .map((l) => l.trim().split(/\s+/))
    .find((f) => f[0] === "10.97.0.2");
  return row ? { state: row[2]!, timeout: Number(row.at(-1)) } : undefined;
}
const birdLog = () => readFileSync(birdLogFile, "utf8");

type Line = { down?: string; unblocked?: number; log?: string; to?: string; diag?: number; status?: { state: string; upSince?: number }[] };

/** test/bfd-stall-peer.ts in tabby's namespace: its JSON lines, and commands to it. */
function startPeer(mode: "worker" | "thread") {
  const child = spawn("ip", ["netns", "exec", nsTabby, process.execPath, fixture, mode, "10.97.0.1", "10.97.0.2"], { stdio: ["pipe", "pipe", "inherit"] });
  peers.add(child);
  const lines: Line[] = [];
  createInterface({ input: child.stdout! }).on("line", (l) => lines.push(JSON.parse(l) as Line));
  return {
    lines,
    send: (cmd: string) => child.stdin!.write(`${cmd}\n`),
    downs: () => lines.filter((l) => l.down !== undefined),
    async stop(): Promise<void> {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/** Up on both sides, BIRD on the fast timers (300 ms detection time), and our side's status Up. */
async function upOnBoth(peer: ReturnType<typeof startPeer>): Promise<void> {
  await waitFor("BIRD's session Up at 100 ms × 3", () => {
    const s = birdSession();
    return s?.state === "Up" && s.timeout === 0.3;
  });
  await waitFor("our session Up", () => peer.lines.some((l) => l.log === "bfd session state" && l.to === "Up"));
}

/** Blocks the peer's main thread for 1.5 s and waits until it runs again. */
async function stall(peer: ReturnType<typeof startPeer>): Promise<void> {
  peer.send("block 1500");
  await waitFor("the main thread running again", () => peer.lines.some((l) => l.unblocked === 1500), 20_000);
}

const upToDown = (log: string) => (log.match(/Session to 10\.97\.0\.2 changed state from Up to Down/g) ?? []).length;

test("negative control: BFD on the main thread, stalled 1.5 s, is timed out by BIRD", { skip, timeout: 60_000 }, async (t) => {
  const peer = startPeer("thread");
  t.after(() => peer.stop());
  await upOnBoth(peer);
  const mark = birdLog().length;
  await stall(peer);
  await waitFor("BIRD's session Up to Down", () => upToDown(birdLog().slice(mark)) >= 1, 10_000);
  // and our side hears of it (BIRD's Down, diag 3) when it runs again
  await waitFor("our onDown", () => peer.downs().length >= 1, 10_000);
  await peer.stop();
});

test("BFD in its worker: a 1.5 s stall of the main thread takes nothing down; a deleted veth still does", { skip, timeout: 60_000 }, async (t) => {
  const peer = startPeer("worker");
  t.after(() => peer.stop());
  await upOnBoth(peer);
  const mark = birdLog().length;
  peer.send("status");
  await waitFor("a status", () => peer.lines.some((l) => l.status));
  const upSince = peer.lines.find((l) => l.status)!.status![0]!.upSince;
  assert.equal(typeof upSince, "number");

  await stall(peer);
  // a settling second after the stall for anything late to show (nothing is timed)
  await sleep(1000);
  assert.equal(upToDown(birdLog().slice(mark)), 0, `BIRD saw the session go down:\n${birdLog().slice(mark)}`);
  assert.equal(birdSession()?.state, "Up");
  assert.deepEqual(peer.downs(), []);
  peer.send("status");
  await waitFor("a second status", () => peer.lines.filter((l) => l.status).length >= 2);
  const st = peer.lines.filter((l) => l.status).at(-1)!.status!;
  assert.deepEqual(
    st.map((s) => [s.state, s.upSince]),
    [["Up", upSince]],
    "the same Up, never left",
  );

  // a real failure: the link is gone; the worker times the peer out and the main thread's watcher hears it
  sh("ip", ["-n", nsTabby, "link", "del", "eth0"]);
  await waitFor("our onDown", () => peer.downs().length === 1, 10_000);
  assert.equal(peer.downs()[0]!.down, "BFD down (diag 1)", "control detection time expired");
  // BIRD's side of the veth went with it: its session is down or gone
  await waitFor("BIRD's session no longer Up", () => birdSession()?.state !== "Up", 10_000);
});
