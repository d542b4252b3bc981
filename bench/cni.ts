/**
 * CNI plugin latency: ADD and DEL wall time (median, p99) for tabby (the installed `tabby`
 * wrapper, tabby-ipam over SQLite, datastore writes included), for the reference `ptp` +
 * `host-local` plugins (Debian's containernetworking-plugins), and for `node -e 0` (the floor of
 * any Node.js plugin), in the same run, with ratios to the floor. Each sample is one plugin process
 * from spawn to exit, as a runtime sees it; a fresh container namespace per iteration (made and
 * removed outside the timing). The bench re-runs itself inside a private network namespace so that
 * the plugins program no real host.
 *
 *   node dist/bench/cni.js [--iterations N] [--hold-db] [--baseline CHECKOUT]
 *
 * --hold-db: the bench keeps its own connection to the SQLite file open for the whole run, as a
 *   host's running agent (`tabby node run`) does. Then a plugin's close is not the last one, so it
 *   neither checkpoints the WAL into the database nor deletes it (two fsyncs and a re-created WAL
 *   per plugin process otherwise), which is how the plugin runs on a real tabby host.
 * --baseline CHECKOUT: also times the plugins `tabby cni install` of another built checkout writes
 *   (e.g. an earlier commit), interleaved in the same run, for before/after comparisons.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const { values: args } = parseArgs({
  options: {
    iterations: { type: "string", default: "40" },
    inner: { type: "string" },
    "hold-db": { type: "boolean", default: false },
    baseline: { type: "string" },
  },
});
const N = Number(args.iterations);
const SELF = fileURLToPath(import.meta.url);
const CLI = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));
const P = `ttc2b${process.pid}`;

if (!args.inner) {
  // Outer: a namespace standing for the host, with an uplink so tabby finds a default route.
  const host = `${P}h`;
  const up = `${P}u`;
  try {
    for (const ns of [host, up]) execFileSync("ip", ["netns", "add", ns]);
    const ip = (ns: string, ...a: string[]) => execFileSync("ip", ["-n", ns, ...a]);
    ip(host, "link", "add", "up0", "type", "veth", "peer", "name", "up1", "netns", up);
    for (const [ns, d] of [
      [host, "up0"],
      [up, "up1"],
      [host, "lo"],
    ] as const)
      ip(ns, "link", "set", d, "up");
    ip(host, "addr", "add", "192.168.252.1/24", "dev", "up0");
    ip(host, "route", "add", "default", "via", "192.168.252.2");
    const extra = [...(args["hold-db"] ? ["--hold-db"] : []), ...(args.baseline ? ["--baseline", args.baseline] : [])];
    const r = spawnSync("ip", ["netns", "exec", host, process.execPath, SELF, "--iterations", String(N), "--inner", P, ...extra], { stdio: "inherit" });
    process.exitCode = r.status ?? 1;
  } finally {
    for (const ns of [host, up]) spawnSync("ip", ["netns", "del", ns]);
  }
} else {
  await inner(args.inner);
}

interface Sample {
  add: number[];
  del: number[];
}

function time(cmd: string, argv: string[], env: Record<string, string>, input: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, argv, { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env }, stdio: ["pipe", "pipe", "inherit"] });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.on("error", reject);
    child.on("close", (code) => {
      const ms = performance.now() - t0;
      if (code !== 0) reject(new Error(`${cmd} ${env.CNI_COMMAND ?? ""} exited ${code}: ${out}`));
      else resolve(ms);
    });
    child.stdin.end(input);
  });
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

async function inner(prefix: string): Promise<void> {
  const W = mkdtempSync(join(tmpdir(), `${prefix}-`));
  const netnsName = (i: number) => `${prefix}c${i}`;
  try {
    execFileSync(process.execPath, [CLI, "cni", "install", "--bin-dir", join(W, "bin"), "--no-conflist"]);
    const db = `sqlite://${join(W, "tabby.db")}`;
    writeFileSync(
      join(W, "pools.yaml"),
      "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: b4}\nspec: {cidr: 10.81.0.0/16}\n---\napiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: b6}\nspec: {cidr: 'fd81::/64'}\n",
    );
    execFileSync(process.execPath, [CLI, "apply", "-f", join(W, "pools.yaml"), "--datastore", db]);
    if (args.baseline)
      execFileSync(process.execPath, [join(args.baseline, "dist/src/cli/main.js"), "cni", "install", "--bin-dir", join(W, "base"), "--no-conflist"]);
    let held: { close(): unknown } | undefined;
    if (args["hold-db"]) {
      // As a running agent holds it: a connection that has read the database (so it is in WAL mode).
      const { default: Database } = await import("better-sqlite3");
      const conn = new Database(join(W, "tabby.db"));
      conn.prepare("SELECT count(*) FROM kv").get();
      held = conn;
    }
    const subjects: { name: string; cmd: string; conf: Record<string, unknown>; env?: Record<string, string> }[] = [
      { name: "node -e 0 (floor)", cmd: process.execPath, conf: { cniVersion: "1.0.0", name: "b", type: "none" } },
      {
        name: "ptp + host-local (IPv4)",
        cmd: "/usr/lib/cni/ptp",
        conf: { cniVersion: "1.0.0", name: "b", type: "ptp", ipam: { type: "host-local", ranges: [[{ subnet: "10.80.0.0/16" }]], dataDir: join(W, "hl") } },
      },
      {
        name: "tabby + tabby-ipam (dual stack)",
        cmd: join(W, "bin", "tabby"),
        conf: { cniVersion: "1.0.0", name: "b", type: "tabby", datastore: db, nodename: "bench", ipam: { type: "tabby-ipam" } },
        env: { TABBY_IPAM_LOCK: join(W, "ipam.lock") },
      },
      {
        name: "tabby + tabby-ipam (IPv4)",
        cmd: join(W, "bin", "tabby"),
        conf: { cniVersion: "1.0.0", name: "b", type: "tabby", datastore: db, nodename: "bench", ipam: { type: "tabby-ipam", assign_ipv6: false } },
        env: { TABBY_IPAM_LOCK: join(W, "ipam.lock") },
      },
    ];
    if (args.baseline) {
      for (const s of subjects.slice(2, 4)) subjects.push({ ...s, name: s.name.replace("tabby + tabby-ipam", "baseline"), cmd: join(W, "base", "tabby") });
    }
    const results = new Map<string, Sample>(subjects.map((s) => [s.name, { add: [], del: [] }]));
    // Interleave subjects per iteration so that drift on the machine hits all alike.
    for (let i = 0; i < N + 2; i++) {
      for (const s of subjects) {
        const ns = netnsName(i);
        execFileSync("ip", ["netns", "add", ns]);
        try {
          const env = {
            ...(s.env ?? {}),
            CNI_CONTAINERID: `bench${i}`,
            CNI_NETNS: `/var/run/netns/${ns}`,
            CNI_IFNAME: "eth0",
            CNI_PATH: "/usr/lib/cni",
          };
          const argv = s.cmd === process.execPath ? ["-e", "0"] : [];
          const input = JSON.stringify(s.conf);
          const add = await time(s.cmd, argv, { ...env, CNI_COMMAND: "ADD" }, input);
          const del = await time(s.cmd, argv, { ...env, CNI_COMMAND: "DEL" }, input);
          if (i >= 2) {
            // the first two rounds warm the page cache
            results.get(s.name)!.add.push(add);
            results.get(s.name)!.del.push(del);
          }
        } finally {
          execFileSync("ip", ["netns", "del", ns]);
        }
      }
    }
    const floor = results.get(subjects[0]!.name)!;
    const fm = { add: pct(floor.add, 50), del: pct(floor.del, 50) };
    const f = (x: number) => x.toFixed(1);
    held?.close();
    console.log(
      `cni bench: ${N} ADD+DEL per plugin, each a fresh process and a fresh container namespace${args["hold-db"] ? "; the datastore held open by the bench (as by an agent)" : ""}`,
    );
    if (args.baseline) console.log(`baseline: the plugins of ${args.baseline}`);
    console.log("| plugin                          | ADD median ms | ADD p99 ms | DEL median ms | DEL p99 ms | ADD / floor | DEL / floor |");
    console.log("| ------------------------------- | ------------- | ---------- | ------------- | ---------- | ----------- | ----------- |");
    for (const s of subjects) {
      const r = results.get(s.name)!;
      const am = pct(r.add, 50);
      const dm = pct(r.del, 50);
      console.log(
        `| ${s.name.padEnd(31)} | ${f(am).padStart(13)} | ${f(pct(r.add, 99)).padStart(10)} | ${f(dm).padStart(13)} | ${f(pct(r.del, 99)).padStart(10)} | ${(am / fm.add).toFixed(2).padStart(11)} | ${(dm / fm.del).toFixed(2).padStart(11)} |`,
      );
    }
  } finally {
    rmSync(W, { recursive: true, force: true });
  }
}
