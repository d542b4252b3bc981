/**
 * `tabby workload add|delete`: a VM (or any workload on a tap a hypervisor made) without an
 * orchestrator, as Calico's OpenStack driver did for Nova instances (issue 20, docs/vms.md):
 *   add --interface TAP --name NAME [--namespace NS] [--labels k=v,...] [--mac MAC]
 *       [--orchestrator libvirt|openstack] [--node NODE] [--datastore URL] [-o json]
 *     takes an address of each family that has a pool from IPAM (handle `tabby-vm.<ns>.<name>`),
 *     makes sure the namespace profile exists and creates the WorkloadEndpoint; the agent then
 *     routes, polices and answers DHCP on the tap. A failure after IPAM releases what it took.
 *   delete --name NAME [--namespace NS] [--datastore URL]
 *     deletes the endpoint(s) of that VM (orchestrator libvirt or openstack) and releases the
 *     handle: nothing is left for `tabby ipam check` to find.
 * The two commands' argument parsing is the one parser's (commands.ts: `workload add`, `workload
 * delete`); their bodies are `runAdd` and `runDelete` here. Shell (datastore I/O).
 */
import { hostname } from "node:os";
import type { CliIO } from "./command.js";
import { UsageError } from "./command.js";
import { parseCommandLine } from "./parse.js";
import { withStoreFromArgs } from "./datastore-flag.js";
import { ResourceClient } from "../datastore/resource-client.js";
import { Ipam } from "../ipam/ipam.js";
import { ensureNamespaceProfile } from "../cni/namespace-profile.js";
import { TabbyError, hasCode } from "../errors.js";
import { checkVmWorkload, parseLabelList, vmEndpoint, vmHandle, type VmOrchestrator, type VmWorkload } from "../vm/workload.js";
import type { Resource } from "../model/index.js";
import type { Store } from "../datastore/store.js";

interface AddOpts {
  interface: string;
  name: string;
  namespace: string;
  labels?: string;
  mac?: string;
  orchestrator: VmOrchestrator;
  node?: string;
  datastore?: string;
  output?: "json" | "text";
}

export interface AddedWorkload {
  endpoint: string;
  namespace: string;
  addresses: string[];
}

export async function addWorkload(o: AddOpts, env: NodeJS.ProcessEnv): Promise<AddedWorkload> {
  return withStoreFromArgs(o.datastore, env, (store) => addWorkloadTo(store, o, env));
}

/** `workload add` on an open store (the lab passes its own). */
export async function addWorkloadTo(store: Store, o: Omit<AddOpts, "datastore" | "output">, env: NodeJS.ProcessEnv): Promise<AddedWorkload> {
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

export async function deleteWorkload(
  o: { name: string; namespace: string; datastore?: string },
  env: NodeJS.ProcessEnv,
): Promise<{ deleted: string[]; released: number }> {
  return withStoreFromArgs(o.datastore, env, async (store) => {
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
  });
}

/** `tabby workload add`. */
export async function runAdd(argv: string[], io: CliIO): Promise<number> {
  const parsed = parseCommandLine("workload add", argv, io);
  if (!parsed) return 0;
  const { values, positionals } = parsed;
  if (positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  if (!values.interface) throw new UsageError("--interface TAP is required");
  if (!values.name) throw new UsageError("--name NAME is required");
  const orchestrator = values.orchestrator ?? "libvirt";
  if (orchestrator !== "libvirt" && orchestrator !== "openstack") throw new UsageError(`--orchestrator must be libvirt or openstack, got ${JSON.stringify(orchestrator)}`);
  const output = values.output ?? "text";
  if (output !== "text" && output !== "json") throw new UsageError(`-o must be text or json, got ${JSON.stringify(output)}`);
  const r = await addWorkload(
    {
      interface: values.interface,
      name: values.name,
      namespace: values.namespace ?? "default",
      orchestrator,
      output,
      ...(values.labels !== undefined ? { labels: values.labels } : {}),
      ...(values.mac !== undefined ? { mac: values.mac } : {}),
      ...(values.node !== undefined ? { node: values.node } : {}),
      ...(values.datastore !== undefined ? { datastore: values.datastore } : {}),
    },
    io.env,
  );
  io.stdout.write(output === "json" ? `${JSON.stringify(r)}\n` : `${r.namespace}/${r.endpoint} ${r.addresses.join(" ")}\n`);
  return 0;
}

/** `tabby workload delete`. */
export async function runDelete(argv: string[], io: CliIO): Promise<number> {
  const parsed = parseCommandLine("workload delete", argv, io);
  if (!parsed) return 0;
  const { values, positionals } = parsed;
  if (positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  if (!values.name) throw new UsageError("--name NAME is required");
  const r = await deleteWorkload(
    { name: values.name, namespace: values.namespace ?? "default", ...(values.datastore !== undefined ? { datastore: values.datastore } : {}) },
    io.env,
  );
  io.stdout.write(`deleted ${r.deleted.length ? r.deleted.join(", ") : "no endpoint"}; released ${r.released} address(es)\n`);
  return 0;
}
