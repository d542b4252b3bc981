/**
 * Adds one workload to a running lab, as a container runtime and an orchestrator would: the real
 * CNI plugin is run in the host's namespace (src/lab/up.ts plugWorkload), then the orchestrator's
 * labels are written onto the WorkloadEndpoint it created (as kube-controllers does; see
 * src/lab/workloads.ts). The two steps are separate so a caller can time what follows a label
 * change. The workload's namespace is named like every lab workload (`<lab>-h<i>-w<j>`), so
 * `tabby lab down` removes it even though it is not recorded in the lab's state.
 */
import { TabbyError } from "../errors.js";
import type { WorkloadPlan } from "./plan.js";
import type { LabState, LabWorkload } from "./state.js";
import { plugWorkload } from "./up.js";

/** Plugs workload `<host>-w<index>` into `host` of the running lab; no labels yet. */
export async function addLabWorkload(state: LabState, host: string, index: number): Promise<{ plan: WorkloadPlan; workload: LabWorkload }> {
  if (!state.plan.hosts.some((h) => h.name === host)) throw new TabbyError("LAB_NO_HOST", `lab ${state.name} has no host ${host}`);
  const name = `${host}-w${index}`;
  if (state.plan.workloads.some((w) => w.name === name)) throw new TabbyError("LAB_WORKLOAD_EXISTS", `lab ${state.name} already has ${name}`);
  const plan: WorkloadPlan = { name, host, netns: `${state.plan.name}-${name}`, containerId: `lab-${state.plan.name}-${name}` };
  return { plan, workload: await plugWorkload(state, plan) };
}
