/**
 * nftables dataplane benchmark: programming 250 local endpoints with 10 policies each (every
 * policy: 2 ingress rules, 1 egress rule, one 10-member IP set), in a namespace it creates.
 *   1. full: one NftDataplane.apply of the whole snapshot + in-sync (render + one nft -f);
 *   2. incremental: after an empty in-sync, one apply per endpoint (its sets, policies, endpoint);
 *   3. one set-membership change (one element added, then removed), the steady-state update;
 * against the kernel's floor: the same scripts the driver wrote, loaded with plain `nft -f`
 * (parse + netlink + commit, no TypeScript). Prints figures and ratios; no assertions.
 * The driver's own share (fold + render + diff + script text, nft replaced by a FakeRunner) is
 * printed first, so the ratios can be read as "tabby's cost over the kernel's floor".
 * Run (root): npx tsc -p . && node dist/bench/nft.js [endpoints] [policies-per-endpoint] [--cpu-only]
 */
import { execFileSync } from "node:child_process";
import { performance } from "node:perf_hooks";
import { ExecRunner, FakeRunner } from "../src/dataplane/exec.js";
import { NftDataplane } from "../src/dataplane/nft/driver.js";
import { minimalConfig } from "../src/testkit/dataplane/nft/fixtures.js";
import { applyEvents, emptyState } from "../src/dataplane/nft/state.js";
import { fullScript, renderTable } from "../src/dataplane/nft/render.js";
import type { ConfigUpdate, PolicyDataplaneEvent } from "../src/calc/policy-output.js";

const argv = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const CPU_ONLY = process.argv.includes("--cpu-only");
const N = Number(argv[0] ?? 250);
const PER = Number(argv[1] ?? 10);
const NS = `ttnfbench${process.pid}`;

const config: ConfigUpdate = minimalConfig();

function endpointEvents(i: number): PolicyDataplaneEvent[] {
  const out: PolicyDataplaneEvent[] = [];
  const pols: string[] = [];
  for (let j = 0; j < PER; j++) {
    const set = `s:ep${i}-p${j}`;
    const members: string[] = [];
    for (let k = 0; k < 10; k++) members.push(`10.${(i >> 8) & 255}.${i & 255}.${j * 10 + k}`);
    members.push(`fd00:${i.toString(16)}::${j.toString(16)}`);
    out.push({ kind: "ipset-update", id: set, type: "net", members });
    const id = `np/ns${i}/pol${j}`;
    pols.push(id);
    out.push({
      kind: "policy-update",
      id,
      ingress: [
        { id: `${id}-i0`, action: "allow", match: { protocol: 6, srcIpSets: [set], dstPorts: [{ first: 8000 + j, last: 8000 + j }] } },
        { id: `${id}-i1`, action: "deny", match: { srcNets: ["192.168.0.0/16"] } },
      ],
      egress: [{ id: `${id}-e0`, action: "allow", match: { dstIpSets: [set] } }],
    });
  }
  const iface = "tab" + i.toString(16).padStart(11, "0");
  out.push({
    kind: "workload-endpoint-update",
    id: `wep/${i}`,
    iface,
    addrs: [`10.200.${(i >> 8) & 255}.${i & 255}/32`],
    allowSpoofedSources: [],
    ingress: { tiers: [{ name: "default", defaultAction: "deny", policies: pols }], profiles: [`pro/kns.ns${i}`] },
    egress: { tiers: [{ name: "default", defaultAction: "deny", policies: pols }], profiles: [`pro/kns.ns${i}`] },
  });
  out.unshift({
    kind: "policy-update",
    id: `pro/kns.ns${i}`,
    ingress: [{ id: "p", action: "allow", match: {} }],
    egress: [{ id: "p", action: "allow", match: {} }],
  });
  return out;
}

const nsExec = (args: string[], input?: string) =>
  execFileSync("ip", ["netns", "exec", NS, ...args], { input: input ?? "", encoding: "utf8", maxBuffer: 1 << 30 });
const dropTable = () => nsExec(["nft", "-f", "-"], "table inet tabby\ndelete table inet tabby\n");
const ms = (t: number) => `${t.toFixed(1)} ms`;

/** Records every script a driver runs (the floor replays them with plain nft). */
class RecordingRunner extends ExecRunner {
  scripts: string[] = [];
  override run(cmd: string, args: string[], opts: { input?: string; netns?: string } = {}) {
    if (args[0] === "-f" && opts.input) this.scripts.push(opts.input);
    return super.run(cmd, args, opts);
  }
}

const all: PolicyDataplaneEvent[] = [config];
for (let i = 0; i < N; i++) all.push(...endpointEvents(i));
all.push({ kind: "in-sync" });

{
  // The driver's own CPU: the same three workloads with nft replaced by a fake.
  let t0 = performance.now();
  await new NftDataplane(new FakeRunner()).apply(all);
  const full = performance.now() - t0;
  const dp = new NftDataplane(new FakeRunner());
  await dp.apply([config, { kind: "in-sync" }]);
  t0 = performance.now();
  for (let i = 0; i < N; i++) await dp.apply(endpointEvents(i));
  const inc = (performance.now() - t0) / N;
  const R = Math.min(50, N);
  t0 = performance.now();
  for (let k = 0; k < R; k++) await dp.apply([{ kind: "ipset-delta", id: `s:ep${k}-p0`, added: [`10.250.0.${k}`], removed: [] }]);
  const set = (performance.now() - t0) / R;
  console.log(`driver CPU only (FakeRunner): full ${ms(full)}, per endpoint ${ms(inc)}, per set member ${ms(set)}`);
}
if (CPU_ONLY) process.exit(0);

execFileSync("ip", ["netns", "add", NS]);
try {
  // Render alone.
  let t0 = performance.now();
  const rendered = renderTable(applyEvents(emptyState(), all));
  const script = fullScript(rendered);
  const tRender = performance.now() - t0;
  let rules = 0;
  for (const c of rendered.chains.values()) rules += c.rules.length;
  let elements = 0;
  for (const s of rendered.sets.values()) elements += s.elements.size;
  console.log(
    `state: ${N} endpoints × ${PER} policies → ${rendered.chains.size} chains, ${rules} rules, ${rendered.sets.size} sets (${elements} elements); script ${(script.length / 1024).toFixed(0)} KiB`,
  );
  console.log(`render (fold + render + script text): ${ms(tRender)}`);

  // 1. Full apply through the driver.
  t0 = performance.now();
  await new NftDataplane(new ExecRunner(), { netns: NS }).apply(all);
  const tFull = performance.now() - t0;
  dropTable();
  t0 = performance.now();
  nsExec(["nft", "-f", "-"], script);
  const tFloor = performance.now() - t0;
  dropTable();
  console.log(`full:        NftDataplane.apply ${ms(tFull)}   nft -f of the same script ${ms(tFloor)}   ratio ${(tFull / tFloor).toFixed(2)}`);

  // 2. One endpoint at a time.
  const rec = new RecordingRunner();
  const dp = new NftDataplane(rec, { netns: NS });
  await dp.apply([config, { kind: "in-sync" }]);
  t0 = performance.now();
  for (let i = 0; i < N; i++) await dp.apply(endpointEvents(i));
  const tInc = performance.now() - t0;
  const incScripts = rec.scripts.slice(1);
  const full2 = renderTable(dp.state);
  const drift = await dp.drift();
  dropTable();
  nsExec(["nft", "-f", "-"], rec.scripts[0]!);
  t0 = performance.now();
  for (const s of incScripts) nsExec(["nft", "-f", "-"], s);
  const tIncFloor = performance.now() - t0;
  console.log(
    `incremental: ${N} applies ${ms(tInc)} (${ms(tInc / N)} per endpoint, ${dp.stats.fullReplaces - 1} full replaces, drift after: ${drift.length})` +
      `   nft -f of the same ${incScripts.length} deltas ${ms(tIncFloor)} (${ms(tIncFloor / N)} each)   ratio ${(tInc / tIncFloor).toFixed(2)}`,
  );
  if (full2.chains.size !== rendered.chains.size) console.log(`  (incremental table has ${full2.chains.size} chains)`);

  // 3. A set-membership change in the full table (the common steady-state update): one member
  // added to a set, then removed again, through the driver; the floor replays the very scripts
  // the driver wrote with plain nft -f; `add element` / `delete element` (what the driver wrote
  // before) are timed too, for reference.
  dropTable();
  const rec3 = new RecordingRunner();
  const dp3 = new NftDataplane(rec3, { netns: NS });
  await dp3.apply(all);
  const R = Math.min(20, N);
  const timeApplies = async (mk: (k: number) => PolicyDataplaneEvent) => {
    const from = rec3.scripts.length;
    const t = performance.now();
    for (let k = 0; k < R; k++) await dp3.apply([mk(k)]);
    return { ms: (performance.now() - t) / R, scripts: rec3.scripts.slice(from) };
  };
  const add = await timeApplies((k) => ({ kind: "ipset-delta", id: `s:ep${k}-p0`, added: [`10.250.0.${k}`], removed: [] }));
  const del = await timeApplies((k) => ({ kind: "ipset-delta", id: `s:ep${k}-p0`, added: [], removed: [`10.250.0.${k}`] }));
  const replay = (scripts: string[]) => {
    const t = performance.now();
    for (const sc of scripts) nsExec(["nft", "-f", "-"], sc);
    return (performance.now() - t) / scripts.length;
  };
  const addFloor = replay(add.scripts);
  const delFloor = replay(del.scripts);
  const name = /set (n4-\w+) \{/.exec(add.scripts[0] ?? "")?.[1] ?? "";
  const oldAdd = replay([`add element inet tabby ${name} { 10.250.1.1 }\n`, `add element inet tabby ${name} { 10.250.1.2 }\n`]);
  const oldDel = replay([`delete element inet tabby ${name} { 10.250.1.1 }\n`, `delete element inet tabby ${name} { 10.250.1.2 }\n`]);
  console.log(
    `set member add:    NftDataplane.apply ${ms(add.ms)} each (render + diff + nft)   nft -f of the same script ${ms(addFloor)}   ratio ${(add.ms / addFloor).toFixed(2)}`,
  );
  console.log(`set member remove: NftDataplane.apply ${ms(del.ms)} each   nft -f of the same script ${ms(delFloor)}   ratio ${(del.ms / delFloor).toFixed(2)}`);
  console.log(
    `  for reference, one \`nft add element\` ${ms(oldAdd)}, one \`nft delete element\` ${ms(oldDel)} (${rendered.sets.size} sets: nft loads every set's elements first)`,
  );
} finally {
  execFileSync("ip", ["netns", "del", NS]);
}
