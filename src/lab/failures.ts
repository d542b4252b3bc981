/**
 * `tabby lab fail` and `tabby lab heal`: makes and undoes the failures failure-plan.ts works out
 * — kills an agent, a router or a reflector (by the pid the lab recorded, checked against its
 * command line), cuts a link or a router's forwarding with an nftables table of the lab's own in
 * that namespace — and records them in the lab's state so `heal` undoes exactly those.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { TabbyError } from "../errors.js";
import { failRuleset, failTable, planFailure, type LabFailure } from "./failure-plan.js";
import { writeLabState, type LabProcess, type LabState } from "./state.js";
import { labEffects, sh, type LabEffects } from "./sh.js";
import { restartAgent } from "./restart.js";
import { routerDir, startRouter } from "./fabric.js";
import { reflectorSpec } from "./reflectors.js";

/** SIGKILL, as a crash: no grace period. */
const killAll = (fx: LabEffects, procs: LabProcess[]) => fx.supervisor.stop(procs, { signal: "SIGKILL", graceMs: 0 });

const routerProcs = (state: LabState, name: string) =>
  state.processes.filter((p) => p.role === "router" && (p.name === name || p.name === `${name}-zebra` || p.name === `${name}-bfdd`));

export async function failLab(state: LabState, target: string, fx: LabEffects = labEffects()): Promise<LabFailure> {
  const f = planFailure(state, target);
  if ((state.failures ?? []).some((x) => x.target === f.target))
    throw new TabbyError("LAB_ALREADY_FAILED", `${target} has already failed; \`tabby lab heal ${target}\` first`);
  const rules = failRuleset(f);
  if (rules && f.kind !== "agent") await sh(fx.runner, "nft", ["-f", "-"], { netns: f.netns, input: rules });
  if (f.kind === "agent")
    await killAll(
      fx,
      state.processes.filter((p) => p.role === "agent" && p.name === f.host),
    );
  else if (f.kind === "router") await killAll(fx, routerProcs(state, f.router));
  else if (f.kind === "reflector")
    await killAll(
      fx,
      state.processes.filter((p) => p.role === "reflector" && p.name === f.reflector),
    );
  state.failures = [...(state.failures ?? []), f];
  writeLabState(state);
  return f;
}

/** Heals `target`, or every failure in force when it is absent; returns what was healed. */
export async function healLab(state: LabState, target?: string, fx: LabEffects = labEffects()): Promise<LabFailure[]> {
  const all = state.failures ?? [];
  const which = target === undefined ? all : all.filter((f) => f.target === target || f.target === planFailure(state, target).target);
  if (target !== undefined && which.length === 0)
    throw new TabbyError("LAB_NOT_FAILED", `${target} has not failed (failed now: ${all.map((f) => f.target).join(", ") || "nothing"})`);
  for (const f of which) {
    if (f.kind !== "agent") {
      const r = await fx.runner.run("nft", ["delete", "table", "inet", failTable(f)], { netns: f.netns });
      if (r.code !== 0 && !/No such file/.test(r.stderr)) throw new TabbyError("LAB_COMMAND_FAILED", `cannot lift the drop in ${f.netns}: ${r.stderr.trim()}`);
    }
    if (f.kind === "agent") await restartAgent(state, f.host, true, fx);
    else if (f.kind === "router") {
      const r = state.fabric!.routers.find((x) => x.name === f.router)!;
      // a killed daemon leaves its pid file (the supervisor removes it before the new start) and
      // BIRD its control socket
      rmSync(join(routerDir(state.dir, r), "bird.ctl"), { force: true });
      const fresh = await startRouter(state, state.fabric!, r, state.holdTime ?? 9, fx);
      state.processes = [...state.processes.filter((p) => !routerProcs(state, f.router).includes(p)), ...fresh];
    } else if (f.kind === "reflector") {
      const rr = state.reflectors!.find((x) => x.name === f.reflector)!;
      const fresh = await fx.supervisor.start(reflectorSpec(rr, state.dir));
      state.processes = [...state.processes.filter((p) => !(p.role === "reflector" && p.name === f.reflector)), fresh];
    }
    state.failures = (state.failures ?? []).filter((x) => x !== f);
    writeLabState(state);
  }
  return which;
}
