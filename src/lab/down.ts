/**
 * `tabby lab down`: stops the processes `up` started (only those, by pid, checked against
 * their command line) and deletes the lab's namespaces — the recorded ones and any left by a
 * crashed `up` that match the lab's naming — then forgets the lab.
 */
import { isLabNamespace, labNamespaces } from "./plan.js";
import { clearLab, readLabState } from "./state.js";
import { ipBatch, labEffects, listNetns, type LabEffects } from "./sh.js";

export async function labDown(
  name: string,
  say: (line: string) => void = () => {},
  fx: LabEffects = labEffects(),
): Promise<{ processes: number; namespaces: number }> {
  const state = readLabState(name);
  let processes = 0;
  if (state) {
    // Responders first, then agents (SIGTERM: each agent's speaker says goodbye to its peers),
    // then the route reflectors and routers, then the lab's etcd if it has one; each group in parallel.
    const groups = [["responder", "vm"], ["agent"], ["reflector", "router"], ["etcd"]] as const;
    for (const roles of groups)
      processes += await fx.supervisor.stop(
        state.processes.filter((p) => (roles as readonly string[]).includes(p.role)),
        { graceMs: 5000 },
      );
  }
  const present = new Set(await listNetns(fx.runner));
  const recorded = state
    ? [...labNamespaces(state.plan), ...(state.reflectors ?? []).map((r) => r.netns), ...(state.fabric?.routers ?? []).map((r) => r.netns)]
    : [];
  const leftovers = [...present].filter((ns) => isLabNamespace(name, ns) && !recorded.includes(ns));
  const gone = [...recorded, ...leftovers.sort().reverse()].filter((ns) => present.has(ns));
  // one `ip -batch` for all of them, workloads first
  if (gone.length)
    await ipBatch(
      fx.runner,
      undefined,
      gone.map((ns) => `netns del ${ns}`),
    );
  clearLab(name);
  say(`lab ${name}: stopped ${processes} process(es), removed ${gone.length} namespace(s)`);
  return { processes, namespaces: gone.length };
}
