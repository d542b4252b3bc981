/**
 * `tabby lab down`: stops the processes `up` started (only those, by pid, checked against
 * their command line) and deletes the lab's namespaces — the recorded ones and any left by a
 * crashed `up` that match the lab's naming — then forgets the lab.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { isLabNamespace, labNamespaces } from "./plan.js";
import { clearLab, processIsOurs, readLabState, type LabProcess } from "./state.js";
import { listNetns, sh } from "./sh.js";

export async function labDown(name: string, say: (line: string) => void = () => {}): Promise<{ processes: number; namespaces: number }> {
  const state = readLabState(name);
  let processes = 0;
  if (state) {
    // Responders first, then agents (SIGTERM: each agent's speaker says goodbye to its peers),
    // then the route reflectors and the lab's etcd if it has them.
    const rank = { responder: 0, vm: 0, agent: 1, reflector: 2, router: 2, etcd: 3 } as const;
    const order = [...state.processes].sort((a, b) => rank[a.role] - rank[b.role]);
    processes = await stopProcesses(order);
  }
  const present = new Set(await listNetns());
  const recorded = state ? [...labNamespaces(state.plan), ...(state.reflectors ?? []).map((r) => r.netns), ...(state.fabric?.routers ?? []).map((r) => r.netns)] : [];
  const leftovers = [...present].filter((ns) => isLabNamespace(name, ns) && !recorded.includes(ns));
  let namespaces = 0;
  for (const ns of [...recorded, ...leftovers.sort().reverse()]) {
    if (!present.has(ns)) continue;
    await sh("ip", ["netns", "del", ns]);
    namespaces++;
  }
  clearLab(name);
  say(`lab ${name}: stopped ${processes} process(es), removed ${namespaces} namespace(s)`);
  return { processes, namespaces };
}

async function stopProcesses(procs: LabProcess[]): Promise<number> {
  const ours = procs.filter(processIsOurs);
  for (const p of ours) {
    try {
      process.kill(p.pid, "SIGTERM");
    } catch {
      /* already gone */
    }
  }
  for (let i = 0; i < 50 && ours.some(processIsOurs); i++) await sleep(100);
  for (const p of ours.filter(processIsOurs)) {
    try {
      process.kill(p.pid, "SIGKILL");
    } catch {
      /* already gone */
    }
  }
  return ours.length;
}
