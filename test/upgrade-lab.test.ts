/**
 * An agent upgraded in place loses nothing (issue #17). A lab of two hosts with a workload each;
 * the package is packed and installed (`npm install -g --prefix`) twice, the second copy marked as
 * a newer version. Both hosts' agents are moved onto the installed package with
 * --graceful-restart (as `tabby node install`'s unit runs them). Then, while a prober in each
 * workload pings the other host's workload every 10 ms, h1's agent is upgraded the way
 * `systemctl restart tabby-node` does it: SIGUSR2 (the unit's KillSignal) and a start of the new
 * version — under the unit's capability bounding set (CAP_NET_ADMIN, CAP_NET_BIND_SERVICE,
 * CAP_NET_RAW), so the least privilege the units name is shown to be enough. The test waits for
 * the new agent to be in sync and its sessions Established again, and counts every echo
 * sequence number: no gap in either direction.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { alive, labUnderTest, run, waitFor } from "./helpers.js";

const canRun = process.getuid?.() === 0;
const REPO = fileURLToPath(new URL("../../", import.meta.url));
const { lab } = labUnderTest("tu", "tabby-lab-");
const W = mkdtempSync(join(tmpdir(), `ttup${process.pid}-`));
const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH}` };
const started: ChildProcess[] = [];

after(async () => {
  for (const p of started) if (p.pid && alive(p.pid)) p.kill("SIGKILL");
  await sleep(200);
  rmSync(W, { recursive: true, force: true });
});

interface Status {
  hosts: { name: string; namespace: string; ipv4: string; agentPid: number }[];
  workloads: { name: string; host: string; namespace: string; ipv4: string }[];
}

/** Installs the tarball into PREFIX; returns the installed CLI entry. */
function installTarball(tarball: string, prefix: string): string {
  execFileSync("npm", ["install", "-g", "--prefix", prefix, "--no-audit", "--no-fund", "--loglevel=error", tarball], {
    env,
    stdio: ["ignore", "ignore", "inherit"],
  });
  return join(prefix, "lib/node_modules/tabby/dist/src/cli/main.js");
}

/** The `node run` arguments a lab agent was started with (from /proc), minus node and CLI. */
function agentArgs(pid: number): string[] {
  const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8")
    .split("\0")
    .filter((a) => a !== "");
  const i = argv.indexOf("node", 2);
  assert.equal(argv[i + 1], "run", argv.join(" "));
  return argv.slice(i + 2);
}

function startAgent(netns: string, cli: string, args: string[], log: string, capBounded: boolean): ChildProcess {
  const fd = openSync(log, "a");
  const bounded = capBounded ? ["setpriv", "--bounding-set", "-all,+net_admin,+net_bind_service,+net_raw", "--"] : [];
  const p = spawn("ip", ["netns", "exec", netns, ...bounded, process.execPath, cli, "node", "run", ...args, "--graceful-restart"], {
    stdio: ["ignore", fd, fd],
    env,
  });
  closeSync(fd);
  started.push(p);
  return p;
}

const controlOf = (args: string[]) => args[args.indexOf("--control") + 1]!;

async function established(cli: string, control: string, peers: number): Promise<boolean> {
  const r = await run(process.execPath, [cli, "node", "status", "-o", "json", "--control", control], { env });
  if (r.code !== 0) return false;
  const ps = JSON.parse(r.stdout) as { established: boolean; prefixesAccepted: number }[];
  return ps.length === peers && ps.every((p) => p.established && p.prefixesAccepted >= 1);
}

async function stop(p: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  const done = new Promise((r) => p.once("exit", r));
  p.kill(signal);
  await done;
}

/** A 10 ms ping; the sequence numbers answered, as they come. */
function prober(netns: string, address: string): { proc: ChildProcess; seqs: number[] } {
  const seqs: number[] = [];
  const proc = spawn("ip", ["netns", "exec", netns, "ping", "-n", "-i", "0.01", "-W", "1", address], { stdio: ["ignore", "pipe", "ignore"] });
  started.push(proc);
  let buf = "";
  proc.stdout!.setEncoding("utf8").on("data", (d: string) => {
    buf += d;
    const lines = buf.split("\n");
    buf = lines.pop()!;
    for (const l of lines) {
      const m = /icmp_seq=(\d+)/.exec(l);
      if (m && / bytes from /.test(l)) seqs.push(Number(m[1]));
    }
  });
  return { proc, seqs };
}

/** Sequence numbers below the last answered one that were never answered. */
function gaps(seqs: number[]): number[] {
  const got = new Set(seqs);
  const last = Math.max(...seqs);
  const missing: number[] = [];
  for (let s = 1; s < last; s++) if (!got.has(s)) missing.push(s);
  return missing;
}

test("an agent upgraded in place (SIGUSR2, new version under the unit's capabilities) loses no packet of a 10 ms prober", {
  skip: !canRun && "needs root",
  timeout: 400_000,
}, async () => {
  const packed = JSON.parse(execFileSync("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", W], { cwd: REPO, env, encoding: "utf8" })) as {
    filename: string;
    version: string;
  }[];
  const tarball = join(W, packed[0]!.filename);
  const oldCli = installTarball(tarball, join(W, "old"));
  const newCli = installTarball(tarball, join(W, "new"));
  const newPkg = join(W, "new/lib/node_modules/tabby/package.json");
  const newVersion = `${packed[0]!.version}-upgraded`;
  writeFileSync(newPkg, JSON.stringify({ ...JSON.parse(readFileSync(newPkg, "utf8")), version: newVersion }, null, 2));

  const up = await lab("up", "--hosts", "2", "--workloads", "1");
  assert.equal(up.code, 0, up.stdout + up.stderr);
  const st = JSON.parse((await lab("status", "-o", "json")).stdout) as Status;
  const [h1, h2] = [st.hosts.find((h) => h.name === "h1")!, st.hosts.find((h) => h.name === "h2")!];
  const [w1, w2] = [st.workloads.find((w) => w.host === "h1")!, st.workloads.find((w) => w.host === "h2")!];

  // Move both hosts onto the installed package, with graceful restart (before any probing).
  const agents = new Map<string, { args: string[]; proc: ChildProcess }>();
  for (const h of [h1, h2]) {
    const args = agentArgs(h.agentPid);
    process.kill(h.agentPid, "SIGTERM");
    assert.equal(await waitFor(async () => !alive(h.agentPid), 100), true, `lab agent ${h.name} stopped`);
    agents.set(h.name, { args, proc: startAgent(h.namespace, oldCli, args, join(W, `${h.name}.log`), false) });
  }
  for (const h of [h1, h2]) {
    assert.equal(
      await waitFor(() => established(oldCli, controlOf(agents.get(h.name)!.args), 1), 300),
      true,
      `${h.name} established on the installed package:\n${readFileSync(join(W, `${h.name}.log`), "utf8").slice(-2000)}`,
    );
  }
  const reach = async (ns: string, addr: string) => (await run("ip", ["netns", "exec", ns, "ping", "-c", "1", "-W", "1", addr])).code === 0;
  assert.equal(await waitFor(() => reach(w2.namespace, w1.ipv4), 100), true, "w2 reaches w1");
  assert.equal(await waitFor(() => reach(w1.namespace, w2.ipv4), 100), true, "w1 reaches w2");

  const toH1 = prober(w2.namespace, w1.ipv4);
  const fromH1 = prober(w1.namespace, w2.ipv4);
  assert.equal(await waitFor(async () => toH1.seqs.length >= 50 && fromH1.seqs.length >= 50, 100, 100), true, "the probers run");
  const before = { to: Math.max(...toH1.seqs), from: Math.max(...fromH1.seqs) };

  // The upgrade of h1, as systemd's restart of tabby-node.service: SIGUSR2, then the new version.
  const a1 = agents.get("h1")!;
  await stop(a1.proc, "SIGUSR2");
  const log1 = join(W, "h1-new.log");
  const fresh = startAgent(h1.namespace, newCli, a1.args, log1, true);
  const newLog = () => readFileSync(log1, "utf8");
  assert.equal(
    await waitFor(async () => /graceful restart: keeping learned routes/.test(newLog()), 300),
    true,
    `the new agent starts as a restart:\n${newLog().slice(-2000)}`,
  );
  assert.equal(await waitFor(async () => /in sync; programming the dataplane/.test(newLog()), 300), true, `the new agent syncs:\n${newLog().slice(-2000)}`);
  assert.equal(await waitFor(() => established(newCli, controlOf(a1.args), 1), 300), true, `h1 established again:\n${newLog().slice(-2000)}`);
  assert.equal(await waitFor(() => established(oldCli, controlOf(agents.get("h2")!.args), 1), 300), true, "h2 sees h1 again");
  assert.match(newLog(), new RegExp(`"tabby":"${newVersion.replace(/\./g, "\\.")}"`), "the new version runs");
  // Past the restarting speaker's End-of-RIB handling: stale routes replaced by fresh ones.
  await sleep(2000);
  const seen = await waitFor(async () => Math.max(...toH1.seqs) > before.to + 100 && Math.max(...fromH1.seqs) > before.from + 100, 100, 100);
  assert.equal(seen, true);
  toH1.proc.kill("SIGINT");
  fromH1.proc.kill("SIGINT");
  await sleep(100);

  assert.deepEqual(gaps(toH1.seqs), [], `w2 → w1 (into the upgraded host): ${toH1.seqs.length} answered`);
  assert.deepEqual(gaps(fromH1.seqs), [], `w1 → w2 (out of the upgraded host): ${fromH1.seqs.length} answered`);
  assert.ok(Math.min(...toH1.seqs) <= before.to && Math.max(...toH1.seqs) > before.to + 100, "the probe spans the upgrade");

  await stop(fresh, "SIGTERM");
  await stop(agents.get("h2")!.proc, "SIGTERM");
});
