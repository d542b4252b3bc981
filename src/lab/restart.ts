/**
 * `tabby lab restart HOST [--kill]`: stop a host's agent (SIGTERM, or SIGKILL with --kill, the
 * way a crash looks) and start it again with the same arguments. The dataplane is left as it
 * is in between; the new agent resyncs and repairs the difference.
 */
import { TabbyError } from "../errors.js";
import { processIsOurs, writeLabState, type LabState } from "./state.js";
import { agentSpec } from "./up.js";
import { labEffects, type LabEffects } from "./sh.js";

export async function restartAgent(state: LabState, host: string, kill: boolean, fx: LabEffects = labEffects()): Promise<{ oldPid?: number; newPid: number }> {
  const plan = state.plan.hosts.find((h) => h.name === host);
  if (!plan) throw new TabbyError("LAB_NO_HOST", `no host "${host}" in lab ${state.name}; one of: ${state.plan.hosts.map((h) => h.name).join(", ")}`);
  const idx = state.processes.findIndex((p) => p.role === "agent" && p.name === host);
  const old = idx >= 0 ? state.processes[idx] : undefined;
  // SIGTERM with 5 s to say goodbye (then SIGKILL), or SIGKILL at once as a crash
  const fresh = await fx.supervisor.restart(
    old && processIsOurs(old) ? old : undefined,
    agentSpec(state, plan, state.holdTime ?? 9),
    kill ? { signal: "SIGKILL", graceMs: 0 } : { graceMs: 5000 },
  );
  if (idx >= 0) state.processes[idx] = fresh;
  else state.processes.push(fresh);
  writeLabState(state);
  return { ...(old ? { oldPid: old.pid } : {}), newPid: fresh.pid };
}
