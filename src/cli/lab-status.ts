/** `tabby lab status [-o json]`: the lab's hosts, routers (with `--topology fabric`), anycast addresses, workloads, and the `lab fail` failures in force. */
import { parseCommandLine } from "./parse.js";
import type { CliIO } from "./command.js";
import { requireLab } from "./lab-common.js";
import { processIsOurs, type LabProcess } from "../lab/state.js";
import { columns } from "./columns.js";

export async function run(argv: string[], io: CliIO): Promise<number> {
  const parsed = parseCommandLine("lab status", argv, io);
  if (!parsed) return 0;
  const { values } = parsed;
  const state = requireLab(values.name);
  const agents = new Map(state.processes.filter((p) => p.role === "agent").map((p) => [p.name, p]));
  const hosts = state.plan.hosts.map((h) => {
    const p = agents.get(h.name);
    return {
      name: h.name,
      ...(h.rack ? { rack: h.rack } : {}),
      namespace: h.netns,
      ipv4: h.ipv4.split("/")[0],
      ipv6: h.ipv6.split("/")[0],
      agentPid: p?.pid,
      agentRunning: p ? processIsOurs(p) : false,
    };
  });
  const workloads = state.workloads.map((w) => ({
    name: w.name,
    kind: w.kind ?? "container",
    host: w.host,
    namespace: w.netns,
    ipv4: w.ipv4,
    ipv6: w.ipv6,
    interface: w.interface,
    ...(w.kind === "vm" ? { pid: state.processes.find((p) => p.role === "vm" && p.name === w.name)?.pid } : {}),
  }));
  const rrProcs = new Map(state.processes.filter((p) => p.role === "reflector").map((p) => [p.name, p]));
  const reflectors = (state.reflectors ?? []).map((r) => {
    const p = rrProcs.get(r.name);
    return { name: r.name, namespace: r.netns, ipv4: r.ipv4.split("/")[0], ipv6: r.ipv6.split("/")[0], pid: p?.pid, running: p ? processIsOurs(p) : false };
  });
  // a router's first recorded process is its BGP daemon (FRR's zebra follows as "<name>-zebra")
  const routerProcs = new Map<string, LabProcess>();
  for (const p of state.processes) if (p.role === "router" && !routerProcs.has(p.name)) routerProcs.set(p.name, p);
  const routers = (state.fabric?.routers ?? []).map((r) => {
    const p = routerProcs.get(r.name);
    return {
      name: r.name,
      kind: r.kind,
      role: r.role,
      rack: r.rack ?? null,
      namespace: r.netns,
      asNumber: r.asNumber,
      pid: p?.pid ?? null,
      running: p ? processIsOurs(p) : false,
    };
  });
  const fabricInfo = state.fabric
    ? { racks: state.fabric.racks, hostsPerRack: state.fabric.hostsPerRack, tor: state.fabric.tor, asModel: state.fabric.asModel }
    : { namespace: state.plan.fabricNetns, gateway4: state.plan.gateway4, gateway6: state.plan.gateway6 };
  const out = {
    name: state.name,
    ready: state.ready,
    datastore: state.datastore,
    topology: state.topology ?? "mesh",
    fabric: fabricInfo,
    hosts,
    reflectors,
    routers,
    anycast: state.anycast ?? [],
    workloads,
    failures: (state.failures ?? []).map((f) => ({ target: f.target, kind: f.kind })),
    ...(state.bfd ? { bfd: state.bfd } : {}),
  };
  if (values.output === "json") {
    io.stdout.write(JSON.stringify(out, null, 2) + "\n");
    return 0;
  }
  io.stdout.write(`lab ${state.name} (${state.ready ? "up" : "incomplete"}), datastore ${state.datastore}\n\n`);
  if (state.fabric)
    io.stdout.write(
      `routed fabric: ${state.fabric.racks} rack(s) × ${state.fabric.hostsPerRack} host(s), ToRs ${state.fabric.tor}, AS model ${state.fabric.asModel}\n\n`,
    );
  io.stdout.write(
    table(
      ["HOST", ...(state.fabric ? ["RACK"] : []), "NAMESPACE", "IPV4", "IPV6", "AGENT"],
      hosts.map((h) => [
        h.name,
        ...(state.fabric ? [h.rack ?? ""] : []),
        h.namespace,
        h.ipv4 ?? "",
        h.ipv6 ?? "",
        h.agentRunning ? `running (pid ${h.agentPid})` : "stopped",
      ]),
    ),
  );
  io.stdout.write("\n");
  if (routers.length > 0) {
    io.stdout.write(
      table(
        ["ROUTER", "ROLE", "RACK", "KIND", "AS", "NAMESPACE", "DAEMON"],
        routers.map((r) => [r.name, r.role, r.rack ?? "-", r.kind, String(r.asNumber), r.namespace, r.running ? `running (pid ${r.pid})` : "stopped"]),
      ),
    );
    io.stdout.write("\n");
  }
  for (const a of state.anycast ?? []) io.stdout.write(`anycast ${a.address}: ${a.workloads.join(", ")}\n`);
  if (state.anycast?.length) io.stdout.write("\n");
  if (reflectors.length > 0) {
    io.stdout.write(
      table(
        ["REFLECTOR", "NAMESPACE", "IPV4", "IPV6", "SPEAKER"],
        reflectors.map((r) => [r.name, r.namespace, r.ipv4 ?? "", r.ipv6 ?? "", r.running ? `running (pid ${r.pid})` : "stopped"]),
      ),
    );
    io.stdout.write("\n");
  }
  // `lab fail` failures in force (`lab heal` undoes them)
  if (state.failures?.length) io.stdout.write(`failed: ${state.failures.map((f) => `${f.target} (${f.kind})`).join(", ")}; \`tabby lab heal\` undoes them\n\n`);
  io.stdout.write(
    table(
      ["WORKLOAD", "KIND", "HOST", "NAMESPACE", "IPV4", "IPV6", "INTERFACE"],
      workloads.map((w) => [w.name, w.kind, w.host, w.namespace, w.ipv4 ?? "", w.ipv6 ?? "", w.interface ?? ""]),
    ),
  );
  return 0;
}

function table(head: string[], rows: string[][]): string {
  return columns([head, ...rows]);
}
