/**
 * A test fixture for interop with BIRD 2: two namespaces joined by a veth, BIRD on 10.98.0.1
 * and .3 (fd98::1 and ::3) in one, `tabby bgp run` on 10.98.0.2 and .4 (fd98::2 and ::4) in the
 * other. `setUp`/`tearDown` go in
 * before()/after(); `start` runs both daemons from the given configs; everything started is
 * stopped by pid and the namespaces removed, even when a test fails.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, openSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { queryControl } from "../src/bgp/control.js";
import type { PeerStatus, RouteView } from "../src/bgp/speaker.js";
import { stopByPidFile, deleteNetns } from "./helpers.js";

export function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, ms = 30000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      if (await cond()) return;
    } catch {
      /* not yet */
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export function birdTabbyPair(tag: string) {
  const canRun = process.getuid?.() === 0 && existsSync("/usr/sbin/bird");
  const nsBird = `${tag}${process.pid}a`;
  const nsTabby = `${tag}${process.pid}b`;
  const veth = `${tag}${process.pid}x`;
  const dir = mkdtempSync(join(tmpdir(), `${tag}-`));
  const birdSock = join(dir, "bird.ctl");
  const birdPid = join(dir, "bird.pid");
  const control = join(dir, "tabby.sock");
  const main = new URL("../src/cli/main.js", import.meta.url).pathname;
  let tabby: ChildProcess | undefined;

  return {
    canRun,
    dir,
    control,
    birdc: (...args: string[]) => sh("birdc", ["-s", birdSock, ...args]),
    peers: async () => (await queryControl(control, { op: "peers" })) as PeerStatus[],
    routes: async () => (await queryControl(control, { op: "routes", family: "ipv4" })) as RouteView[],
    setUp(): void {
      if (!canRun) return;
      sh("ip", ["netns", "add", nsBird]);
      sh("ip", ["netns", "add", nsTabby]);
      sh("ip", ["link", "add", veth, "netns", nsBird, "type", "veth", "peer", "name", "eth0", "netns", nsTabby]);
      sh("ip", ["-n", nsBird, "link", "set", veth, "name", "eth0"]);
      for (const a of ["10.98.0.1/24", "10.98.0.3/24"]) sh("ip", ["-n", nsBird, "addr", "add", a, "dev", "eth0"]);
      for (const a of ["10.98.0.2/24", "10.98.0.4/24"]) sh("ip", ["-n", nsTabby, "addr", "add", a, "dev", "eth0"]);
      for (const a of ["fd98::1/64", "fd98::3/64"]) sh("ip", ["-n", nsBird, "addr", "add", a, "dev", "eth0", "nodad"]);
      for (const a of ["fd98::2/64", "fd98::4/64"]) sh("ip", ["-n", nsTabby, "addr", "add", a, "dev", "eth0", "nodad"]);
      for (const ns of [nsBird, nsTabby]) {
        sh("ip", ["-n", ns, "link", "set", "lo", "up"]);
        sh("ip", ["-n", ns, "link", "set", "eth0", "up"]);
      }
    },
    /** Starts BIRD and tabby (verbose, logging to tabby.log in `dir`) from these configs. */
    start(birdConf: string, tabbyConf: string): void {
      writeFileSync(join(dir, "bird.conf"), birdConf);
      sh("ip", ["netns", "exec", nsBird, "bird", "-c", join(dir, "bird.conf"), "-s", birdSock, "-P", birdPid]);
      writeFileSync(join(dir, "tabby.yaml"), tabbyConf);
      const logFd = openSync(join(dir, "tabby.log"), "a");
      tabby = spawn("ip", ["netns", "exec", nsTabby, process.execPath, main, "bgp", "run", "-c", join(dir, "tabby.yaml"), "-v"], {
        stdio: ["ignore", logFd, logFd],
      });
    },
    /** The namespace tabby runs in. */
    tabbyNetns: nsTabby,
    /** Sends tabby a signal (SIGHUP: re-read its config). */
    signalTabby(signal: NodeJS.Signals): void {
      tabby?.kill(signal);
    },
    /** Sends tabby a signal and waits for it to exit. */
    async stopTabby(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
      const t = tabby;
      if (!t || t.exitCode !== null || t.signalCode !== null) return;
      const exited = new Promise<void>((r) => t.once("exit", () => r()));
      t.kill(signal);
      await exited;
    },
    /** The end of tabby's log, for a failing test's output. */
    tabbyLog: () => readFileSync(join(dir, "tabby.log"), "utf8").slice(-4000),
    tearDown(): void {
      if (!canRun) return;
      if (tabby?.pid && tabby.exitCode === null) process.kill(tabby.pid, "SIGKILL");
      stopByPidFile(birdPid);
      deleteNetns([nsBird, nsTabby]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
