/**
 * `tabby lab fail` and `tabby lab heal`: makes and undoes the failures failure-plan.ts works out
 * — kills an agent, a router or a reflector (by the pid the lab recorded, checked against its
 * command line), cuts a link or a router's forwarding with an nftables table of the lab's own in
 * that namespace — and records them in the lab's state so `heal` undoes exactly those.
 */
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { TabbyError } from "../errors.js";
import { failRuleset, failTable, planFailure, type LabFailure } from "./failure-plan.js";
import { processIsOurs, writeLabState, type LabProcess, type LabState } from "./state.js";
import { runCommand, sh } from "./sh.js";
import { restartAgent } from "./restart.js";
import { routerDir, startRouter } from "./fabric.js";
import { spawnReflector } from "./reflectors.js";

async function killAll(procs: LabProcess[]): Promise<void> {
  const ours = procs.filter(processIsOurs);
  for (const p of ours) process.kill(p.pid, "SIGKILL");
  for (let i = 0; i < 100 && ours.some(processIsOurs); i++) await sleep(20);
  const stuck = ours.find(processIsOurs);
  if (stuck) throw new TabbyError("LAB_PROCESS_STUCK", `${stuck.role} ${stuck.name} (pid ${stuck.pid}) did not die`);
}

const routerProcs = (state: LabState, name: string) => state.processes.filter((p) => p.role === "router" && (p.name === name || p.name === `${name}-zebra` || p.name === `${name}-bfdd`));

export async function failLab(state: LabState, target: string): Promise<LabFailure> {
  const f = planFailure(state, target);
  if ((state.failures ?? []).some((x) => x.target === f.target)) throw new TabbyError("LAB_ALREADY_FAILED", `${target} has already failed; \`tabby lab heal ${target}\` first`);
  const rules = failRuleset(f);
  if (rules && f.kind !== "agent") await sh("ip", ["netns", "exec", f.netns, "nft", "-f", "-"], { input: rules });
  if (f.kind === "agent") await killAll(state.processes.filter((p) => p.role === "agent" && p.name === f.host));
  else if (f.kind === "router") await killAll(routerProcs(state, f.router));
  else if (f.kind === "reflector") await killAll(state.processes.filter((p) => p.role === "reflector" && p.name === f.reflector));
  state.failures = [...(state.failures ?? []), f];
  writeLabState(state);
  return f;
}

/** Heals `target`, or every failure in force when it is absent; returns what was healed. */
export async function healLab(state: LabState, target?: string): Promise<LabFailure[]> {
  const all = state.failures ?? [];
  const which = target === undefined ? all : all.filter((f) => f.target === target || f.target === planFailure(state, target).target);
  if (target !== undefined && which.length === 0) throw new TabbyError("LAB_NOT_FAILED", `${target} has not failed (failed now: ${all.map((f) => f.target).join(", ") || "nothing"})`);
  for (const f of which) {
    if (f.kind !== "agent") {
      const r = await runCommand("ip", ["netns", "exec", f.netns, "nft", "delete", "table", "inet", failTable(f)]);
      if (r.code !== 0 && !/No such file/.test(r.stderr)) throw new TabbyError("LAB_COMMAND_FAILED", `cannot lift the drop in ${f.netns}: ${r.stderr.trim()}`);
    }
    if (f.kind === "agent") await restartAgent(state, f.host, true);
    else if (f.kind === "router") {
      const r = state.fabric!.routers.find((x) => x.name === f.router)!;
      // a killed daemon leaves its pid file: the new one must not be read as started
      const dir = routerDir(state.dir, r);
      for (const file of ["bird.pid", "bird.ctl", "zebra.pid", "bgpd.pid", "bfdd.pid"]) if (existsSync(join(dir, file))) rmSync(join(dir, file));
      const fresh = await startRouter(state, state.fabric!, r, state.holdTime ?? 9);
      state.processes = [...state.processes.filter((p) => !routerProcs(state, f.router).includes(p)), ...fresh];
    } else if (f.kind === "reflector") {
      const rr = state.reflectors!.find((x) => x.name === f.reflector)!;
      const fresh = spawnReflector(rr, state.dir);
      state.processes = [...state.processes.filter((p) => !(p.role === "reflector" && p.name === f.reflector)), fresh];
    }
    state.failures = (state.failures ?? []).filter((x) => x !== f);
    writeLabState(state);
  }
  return which;
}
