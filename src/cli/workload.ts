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
 * Parsed with commander. Shell (datastore I/O).
 */
import { hostname } from "node:os";
import { Command, CommanderError, Option } from "commander";
import type { CliIO } from "./command.js";
import { UsageError } from "./command.js";
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

function program(io: CliIO, done: (code: Promise<number>) => void): Command {
  const out = { writeOut: (s: string) => void io.stdout.write(s), writeErr: (s: string) => void io.stderr.write(s) };
  const p = new Command("tabby workload").description("VM workloads on taps (docs/vms.md)").exitOverride().configureOutput(out);
  p.command("add")
    .description("allocate addresses and write the WorkloadEndpoint for a VM on a tap")
    .requiredOption("--interface <tap>", "the host-side interface the hypervisor made (tapNAME)")
    .requiredOption("--name <name>", "the VM's name (the endpoint's workload)")
    .option("--namespace <ns>", "namespace of the WorkloadEndpoint", "default")
    .option("--labels <k=v,...>", "labels policy selects the VM by")
    .option("--mac <mac>", "the VM's MAC: DHCP answers only it")
    .addOption(new Option("--orchestrator <o>", "as Calico's integrations name it").choices(["libvirt", "openstack"]).default("libvirt"))
    .option("--node <node>", "the host's Node name (default $TABBY_NODENAME, else the hostname)")
    .option("--datastore <url>", "the datastore (default: TABBY_DATASTORE, the running lab, sqlite)")
    .addOption(new Option("-o, --output <fmt>").choices(["text", "json"]).default("text"))
    .exitOverride()
    .configureOutput(out)
    .action((opts: AddOpts) =>
      done(
        addWorkload(opts, io.env).then((r) => {
          io.stdout.write(opts.output === "json" ? `${JSON.stringify(r)}\n` : `${r.namespace}/${r.endpoint} ${r.addresses.join(" ")}\n`);
          return 0;
        }),
      ),
    );
  p.command("delete")
    .description("delete a VM's WorkloadEndpoint and release its addresses")
    .requiredOption("--name <name>", "the VM's name")
    .option("--namespace <ns>", "namespace of the WorkloadEndpoint", "default")
    .option("--datastore <url>", "the datastore")
    .exitOverride()
    .configureOutput(out)
    .action((opts: { name: string; namespace: string; datastore?: string }) =>
      done(
        deleteWorkload(opts, io.env).then((r) => {
          io.stdout.write(`deleted ${r.deleted.length ? r.deleted.join(", ") : "no endpoint"}; released ${r.released} address(es)\n`);
          return 0;
        }),
      ),
    );
  return p;
}

export async function run(argv: string[], io: CliIO): Promise<number> {
  let result: Promise<number> | undefined;
  try {
    program(io, (c) => {
      result = c;
    }).parse(argv, { from: "user" });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.help" || e.code === "commander.version") return 0;
      throw new UsageError(e.message.replace(/^error: /, ""));
    }
    throw e;
  }
  if (!result) throw new UsageError("add or delete (tabby workload --help)");
  return result;
}
