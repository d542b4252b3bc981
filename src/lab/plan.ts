/**
 * The lab's layout, computed from its shape: names of namespaces, hosts, workloads and their
 * fabric addresses. Pure, so the layout is the same in `up`, `check`, `status` and `down`.
 *
 * The fabric is one L2 segment (a bridge in the `<lab>-fabric` namespace) with a gateway that
 * stands for the rest of the data center; each host is a namespace with `eth0` on the fabric,
 * running a real `tabby node run`; each workload is a namespace plugged into its host by the
 * real CNI plugin.
 */
import { TabbyError } from "../errors.js";
import type { FabricPlan } from "./fabric-plan.js";

export interface LabShape {
  name: string;
  hosts: number;
  workloads: number;
}

export interface HostPlan {
  name: string;
  netns: string;
  /** Host's fabric addresses with prefix length. */
  ipv4: string;
  ipv6: string;
  /** Interface name of the host's port on the fabric bridge. */
  fabricPort: string;
  /** `--topology fabric`: the host's rack (its Node gets the label `rack`). */
  rack?: string;
}

export interface WorkloadPlan {
  name: string;
  host: string;
  netns: string;
  containerId: string;
}

export interface LabPlan {
  name: string;
  fabricNetns: string;
  gateway4: string;
  gateway6: string;
  pool4: string;
  pool6: string;
  asNumber: number;
  hosts: HostPlan[];
  workloads: WorkloadPlan[];
}

export const DEFAULT_LAB_NAME = "tabby";
export const FABRIC4 = { prefix: "10.99.0.", len: 24 };
export const FABRIC6 = { prefix: "fd99::", len: 64 };
/** TCP ports every lab workload serves (its responder answers with its name). */
export const TCP_PORTS = [80, 8080] as const;
/** The named port lab workloads declare (a WorkloadEndpoint `ports` entry), for policies. */
export const NAMED_PORT = { name: "http-alt", protocol: "TCP", port: 8080 } as const;
/** The namespace lab workloads live in, and its profile (as Kubernetes' namespace conversion makes). */
export const LAB_NAMESPACE = "lab";

const NAME_RE = /^[a-z][a-z0-9]{0,9}$/;

/**
 * The lab's plan; with a routed fabric (fabric-plan.ts) the hosts take its names, racks and
 * addresses (one /32 and /128 each, on both uplinks) instead of the bridge's.
 */
export function planLab(shape: LabShape, fabric?: FabricPlan): LabPlan {
  if (!NAME_RE.test(shape.name)) {
    throw new TabbyError("LAB_BAD_NAME", `lab name must be 1-10 lower-case letters or digits starting with a letter, got "${shape.name}"`);
  }
  if (!Number.isInteger(shape.hosts) || shape.hosts < 1 || shape.hosts > 200) {
    throw new TabbyError("LAB_BAD_SHAPE", `--hosts must be between 1 and 200, got ${shape.hosts}`);
  }
  if (fabric) {
    const plan = planLab({ ...shape, hosts: fabric.hosts.length });
    plan.hosts = plan.hosts.map((h, i) => {
      const f = fabric.hosts[i]!;
      return { ...h, ipv4: `${f.ipv4}/32`, ipv6: `${f.ipv6}/128`, rack: f.rack };
    });
    return plan;
  }
  if (!Number.isInteger(shape.workloads) || shape.workloads < 0 || shape.workloads > 50) {
    throw new TabbyError("LAB_BAD_SHAPE", `--workloads must be between 0 and 50, got ${shape.workloads}`);
  }
  const hosts: HostPlan[] = [];
  const workloads: WorkloadPlan[] = [];
  for (let i = 1; i <= shape.hosts; i++) {
    const name = `h${i}`;
    hosts.push({
      name,
      netns: `${shape.name}-${name}`,
      ipv4: `${FABRIC4.prefix}${10 + i}/${FABRIC4.len}`,
      ipv6: `${FABRIC6.prefix}${(10 + i).toString(16)}/${FABRIC6.len}`,
      fabricPort: `p-${name}`,
    });
    for (let j = 1; j <= shape.workloads; j++) {
      const wname = `${name}-w${j}`;
      workloads.push({ name: wname, host: name, netns: `${shape.name}-${wname}`, containerId: `lab-${shape.name}-${wname}` });
    }
  }
  return {
    name: shape.name,
    fabricNetns: `${shape.name}-fabric`,
    gateway4: `${FABRIC4.prefix}254`,
    gateway6: `${FABRIC6.prefix}fe`,
    pool4: "10.65.0.0/16",
    pool6: "fd65::/48",
    asNumber: 64512,
    hosts,
    workloads,
  };
}

/** Every namespace the lab makes, workloads first (the order `down` removes them in). */
export function labNamespaces(plan: LabPlan): string[] {
  return [...plan.workloads.map((w) => w.netns), ...plan.hosts.map((h) => h.netns), plan.fabricNetns];
}

/** True when a namespace name belongs to the lab (for cleaning up after a crash). */
export function isLabNamespace(labName: string, netns: string): boolean {
  return netns === `${labName}-fabric` || new RegExp(`^${labName}-(h\\d+(-w\\d+)?|rr\\d+|r\\d+[ab]|sp\\d+)$`).test(netns);
}
