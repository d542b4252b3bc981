/**
 * `tabby lab restart HOST [--kill]`: stop a host's agent (SIGTERM, or SIGKILL with --kill, the
 * way a crash looks) and start it again with the same arguments. The dataplane is left as it
 * is in between; the new agent resyncs and repairs the difference.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { TabbyError } from "../errors.js";
import { processIsOurs, writeLabState, type LabState } from "./state.js";
import { startAgent } from "./up.js";

export async function restartAgent(state: LabState, host: string, kill: boolean): Promise<{ oldPid?: number; newPid: number }> {
  const plan = state.plan.hosts.find((h) => h.name === host);
  if (!plan) throw new TabbyError("LAB_NO_HOST", `no host "${host}" in lab ${state.name}; one of: ${state.plan.hosts.map((h) => h.name).join(", ")}`);
  const idx = state.processes.findIndex((p) => p.role === "agent" && p.name === host);
  const old = idx >= 0 ? state.processes[idx] : undefined;
  if (old && processIsOurs(old)) {
    process.kill(old.pid, kill ? "SIGKILL" : "SIGTERM");
    for (let i = 0; i < 100 && processIsOurs(old); i++) await sleep(50);
    if (processIsOurs(old)) throw new TabbyError("LAB_AGENT_STUCK", `agent ${host} (pid ${old.pid}) did not stop`);
  }
  const fresh = startAgent(state, plan, state.holdTime ?? 9);
  if (idx >= 0) state.processes[idx] = fresh;
  else state.processes.push(fresh);
  writeLabState(state);
  return { ...(old ? { oldPid: old.pid } : {}), newPid: fresh.pid };
}
