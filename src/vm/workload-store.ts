/**
 * A VM workload in the datastore (issue 20): `tabby workload add` takes an address of each family
 * that has a pool from IPAM (handle `tabby-vm.<ns>.<name>`), makes sure the namespace profile
 * exists and creates the WorkloadEndpoint, releasing what it took on any failure; `delete` removes
 * the endpoints and releases the handle. Used by the CLI (src/cli/workload.ts) and the lab's VMs
 * (src/lab/vms.ts). Shell (datastore I/O).
 */
import { hostname } from "node:os";
import { ResourceClient } from "../datastore/resource-client.js";
import { Ipam } from "../ipam/ipam.js";
import { ensureNamespaceProfile } from "../cni/namespace-profile.js";
import { TabbyError, hasCode } from "../errors.js";
import { checkVmWorkload, parseLabelList, vmEndpoint, vmHandle, type VmOrchestrator, type VmWorkload } from "./workload.js";
import type { Resource } from "../model/index.js";
import type { Store } from "../datastore/store.js";

/** What `workload add` is asked for (the CLI's options without the datastore and output). */
export interface VmWorkloadRequest {
  interface: string;
  name: string;
  namespace: string;
  labels?: string;
  mac?: string;
  orchestrator: VmOrchestrator;
  node?: string;
}

export interface AddedWorkload {
  endpoint: string;
  namespace: string;
  addresses: string[];
}

/** `tabby workload add` on an open store (the CLI opens it; the lab passes its own). */
export async function addWorkloadTo(store: Store, o: VmWorkloadRequest, env: NodeJS.ProcessEnv): Promise<AddedWorkload> {
  const w: VmWorkload = {
    name: o.name,
    namespace: o.namespace,
    node: o.node ?? env["TABBY_NODENAME"] ?? hostname(),
    orchestrator: o.orchestrator,
    interfaceName: o.interface,
    labels: parseLabelList(o.labels),
    ...(o.mac ? { mac: o.mac } : {}),
  };
  checkVmWorkload(w);
  {
    const client = new ResourceClient(store);
    if (!(await client.get("Node", w.node)))
      throw new TabbyError("CLI_NO_NODE", `no Node ${w.node}: give --node the name the host's agent runs as`, { node: w.node });
    const { items } =
      await client.list<Resource<"WorkloadEndpoint", { interfaceName?: string; node?: string; workload?: string; orchestrator?: string }>>("WorkloadEndpoint");
    const clash = items.find(
      (e) =>
        (e.spec.node === w.node && e.spec.interfaceName === w.interfaceName) ||
        (e.metadata.namespace === w.namespace && e.spec.workload === w.name && isVm(e.spec.orchestrator)),
    );
    if (clash)
      throw new TabbyError(
        "CLI_WORKLOAD_EXISTS",
        `WorkloadEndpoint ${clash.metadata.namespace}/${clash.metadata.name} already has ${clash.spec.interfaceName === w.interfaceName ? `interface ${w.interfaceName}` : `VM ${w.name}`}`,
      );
    const ipam = new Ipam(store);
    const handle = vmHandle(w);
    const attrs = { namespace: w.namespace, node: w.node, workload: w.name };
    const addrs: string[] = [];
    try {
      for (const fam of [4, 6] as const) {
        try {
          const r = await ipam.autoAssign({ handle, node: w.node, num4: fam === 4 ? 1 : 0, num6: fam === 6 ? 1 : 0, attrs });
          addrs.push(...(fam === 4 ? r.ipv4 : r.ipv6).map((a) => a.split("/")[0]!));
        } catch (e) {
          if (!hasCode(e, "IPAM_NO_POOL")) throw e;
        }
      }
      if (!addrs.length) throw new TabbyError("CLI_NO_ADDRESS", `no IP pool gives node ${w.node} an address`);
      await ensureNamespaceProfile(store, w.namespace, Date.now());
      const created = await client.create(vmEndpoint(w, addrs, { uid: "", creationTimestamp: "" }));
      return { endpoint: created.metadata.name, namespace: w.namespace, addresses: addrs };
    } catch (e) {
      await ipam.releaseByHandle(handle).catch(() => 0);
      throw e;
    }
  }
}

function isVm(o: string | undefined): boolean {
  return o === "libvirt" || o === "openstack";
}

/** `tabby workload delete` on an open store: the VM's endpoints (orchestrator libvirt or openstack) and its handle's addresses. */
export async function deleteWorkloadFrom(store: Store, o: { name: string; namespace: string }): Promise<{ deleted: string[]; released: number }> {
  const client = new ResourceClient(store);
  const { items } = await client.list<Resource<"WorkloadEndpoint", { workload?: string; orchestrator?: string }>>("WorkloadEndpoint", o.namespace);
  const mine = items.filter((e) => e.spec.workload === o.name && isVm(e.spec.orchestrator));
  const deleted: string[] = [];
  for (const e of mine) {
    await client.delete("WorkloadEndpoint", e.metadata.name, o.namespace);
    deleted.push(e.metadata.name);
  }
  const released = await new Ipam(store).releaseByHandle(vmHandle(o));
  if (!deleted.length && !released) throw new TabbyError("CLI_NO_WORKLOAD", `no VM workload ${o.namespace}/${o.name}`);
  return { deleted, released };
}
