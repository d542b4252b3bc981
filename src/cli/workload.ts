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
import type { CliIO } from "./command.js";
import { UsageError } from "./command.js";
import { parseCommandLine } from "./parse.js";
import { withStoreFromArgs } from "./datastore-flag.js";
import { addWorkloadTo, deleteWorkloadFrom, type AddedWorkload, type VmWorkloadRequest } from "../vm/workload-store.js";

interface AddOpts extends VmWorkloadRequest {
  datastore?: string;
  output?: "json" | "text";
}

export async function addWorkload(o: AddOpts, env: NodeJS.ProcessEnv): Promise<AddedWorkload> {
  return withStoreFromArgs(o.datastore, env, (store) => addWorkloadTo(store, o, env));
}

export async function deleteWorkload(
  o: { name: string; namespace: string; datastore?: string },
  env: NodeJS.ProcessEnv,
): Promise<{ deleted: string[]; released: number }> {
  return withStoreFromArgs(o.datastore, env, (store) => deleteWorkloadFrom(store, o));
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
  if (orchestrator !== "libvirt" && orchestrator !== "openstack")
    throw new UsageError(`--orchestrator must be libvirt or openstack, got ${JSON.stringify(orchestrator)}`);
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
