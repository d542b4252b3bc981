/**
 * A VM workload's records (issue 20), as Calico's OpenStack and libvirt integrations keep them: a
 * WorkloadEndpoint with orchestrator `libvirt` (or `openstack`), `workload` the VM's name,
 * endpoint `eth0`, the hypervisor's tap as `interfaceName`, the VM's MAC, its IPAM addresses as
 * /32 and /128, the namespace profile `kns.<namespace>`, and the given labels; named
 * `<node>-<orchestrator>-<name>-eth0` (clientv3's rule, `-` doubled inside a segment). Its IPAM
 * handle is `tabby-vm.<namespace>.<name>`. Pure: no I/O.
 */
import { TabbyError } from "../errors.js";
import { API_VERSION, type Resource } from "../model/index.js";

export const VM_HANDLE_PREFIX = "tabby-vm.";
export const VM_ENDPOINT = "eth0";
export type VmOrchestrator = "libvirt" | "openstack";

export interface VmWorkload {
  name: string;
  namespace: string;
  node: string;
  orchestrator: VmOrchestrator;
  interfaceName: string;
  mac?: string;
  labels: Record<string, string>;
}

const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;
const MAC = /^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/;

/** Checks what a user typed; CLI_BAD_WORKLOAD names the field. */
export function checkVmWorkload(w: VmWorkload): void {
  const bad = (field: string, msg: string) => new TabbyError("CLI_BAD_WORKLOAD", `--${field}: ${msg}`, { field });
  if (!IFNAME.test(w.interfaceName)) throw bad("interface", `${JSON.stringify(w.interfaceName)} is not an interface name (1-15 of A-Z a-z 0-9 _ . -)`);
  if (!/^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/.test(w.name)) throw bad("name", `${JSON.stringify(w.name)} must be lower-case letters, digits, '.' and '-'`);
  if (w.mac !== undefined && !MAC.test(w.mac)) throw bad("mac", `${JSON.stringify(w.mac)} is not a MAC address such as 52:54:00:12:34:56`);
  if (w.mac !== undefined && parseInt(w.mac.slice(0, 2), 16) & 1) throw bad("mac", `${w.mac} is a multicast address`);
}

/** "k=v,k2=v2" → labels; CLI_BAD_WORKLOAD for a part without "=". */
export function parseLabelList(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!text) return out;
  for (const part of text.split(",")) {
    const i = part.indexOf("=");
    if (i <= 0) throw new TabbyError("CLI_BAD_WORKLOAD", `--labels: ${JSON.stringify(part)} is not key=value`);
    out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}

const esc = (s: string) => s.replace(/-/g, "--");

export function vmEndpointName(w: Pick<VmWorkload, "node" | "orchestrator" | "name">): string {
  return [w.node, w.orchestrator, w.name, VM_ENDPOINT].map(esc).join("-");
}

export function vmHandle(w: Pick<VmWorkload, "namespace" | "name">): string {
  return `${VM_HANDLE_PREFIX}${w.namespace}.${w.name}`;
}

/** The WorkloadEndpoint for the VM with `addrs` (addresses, bare or host-length CIDRs). */
export function vmEndpoint(w: VmWorkload, addrs: string[], meta: { uid: string; creationTimestamp: string }): Resource {
  return {
    apiVersion: API_VERSION,
    kind: "WorkloadEndpoint",
    metadata: {
      name: vmEndpointName(w),
      namespace: w.namespace,
      labels: { ...w.labels, "projectcalico.org/namespace": w.namespace, "projectcalico.org/orchestrator": w.orchestrator },
      uid: meta.uid,
      creationTimestamp: meta.creationTimestamp,
    },
    spec: {
      orchestrator: w.orchestrator,
      workload: w.name,
      node: w.node,
      endpoint: VM_ENDPOINT,
      interfaceName: w.interfaceName,
      ...(w.mac ? { mac: w.mac.toLowerCase() } : {}),
      ipNetworks: addrs.map((a) => a.split("/")[0]!).map((a) => (a.includes(":") ? `${a}/128` : `${a}/32`)),
      profiles: [`kns.${w.namespace}`],
    },
  } as Resource;
}
