/**
 * `tabby lab up [--hosts N] [--workloads M] [--name NAME] [--policy FILE...]
 * [--datastore sqlite|etcd] [--topology mesh|rr|fabric] [--racks R] [--tor bird|frr|tabby|mixed]
 * [--as-model rack|host] [--vms N]`: build the virtual data center; policy manifests are applied once the
 * datastore is seeded. With `--topology fabric`, `--hosts` counts per rack (default 2). `--vms N`: N QEMU VMs per
 * host on taps (docs/vms.md).
 */
import { parseCommandLine } from "./parse.js";
import type { CliIO } from "./command.js";
import { UsageError } from "./command.js";
import { labUp } from "../lab/up.js";

import { parseManifests, type Resource } from "../model/index.js";
import { readFileSync } from "node:fs";

export async function run(argv: string[], io: CliIO): Promise<number> {
  const parsed = parseCommandLine("lab up", argv, io);
  if (!parsed) return 0;
  const { values } = parsed;
  const num = (flag: string, v: string) => {
    if (!/^\d+$/.test(v)) throw new UsageError(`--${flag} takes a whole number, got "${v}"`);
    return Number(v);
  };
  // Manifests are read and validated before anything is built.
  const policies: Resource[] = [];
  for (const file of values.policy ?? []) policies.push(...parseManifests(readFileSync(file, "utf8"), file));
  if (values.datastore !== "sqlite" && values.datastore !== "etcd") throw new UsageError(`--datastore must be sqlite or etcd, got "${values.datastore}"`);
  if (values.topology !== undefined && values.topology !== "mesh" && values.topology !== "rr" && values.topology !== "fabric")
    throw new UsageError(`--topology is mesh, rr or fabric, got "${values.topology}"`);
  const fabric = values.topology === "fabric";
  for (const flag of ["racks", "tor", "as-model"] as const) {
    if (!fabric && values[flag] !== undefined) throw new UsageError(`--${flag} only applies to --topology fabric`);
  }
  if (values.tor !== undefined && !["bird", "frr", "tabby", "mixed"].includes(values.tor))
    throw new UsageError(`--tor is bird, frr, tabby or mixed, got "${values.tor}"`);
  if (values["as-model"] !== undefined && values["as-model"] !== "rack" && values["as-model"] !== "host")
    throw new UsageError(`--as-model is rack or host, got "${values["as-model"]}"`);
  // --bfd MS[xN]: BFD on the fabric's host↔ToR sessions, MS both intervals, N the multiplier (3)
  let bfd: { minRx: number; minTx: number; multiplier: number } | undefined;
  if (values.bfd !== undefined) {
    if (!fabric) throw new UsageError("--bfd only applies to --topology fabric");
    const m = /^(\d+)(?:x(\d+))?$/.exec(values.bfd);
    if (!m || Number(m[1]) < 10 || Number(m[1]) > 60000 || (m[2] !== undefined && (Number(m[2]) < 1 || Number(m[2]) > 255)))
      throw new UsageError(`--bfd takes an interval in ms (10..60000), optionally xN for the multiplier (1..255): 100 or 100x3, got "${values.bfd}"`);
    bfd = { minRx: Number(m[1]), minTx: Number(m[1]), multiplier: Number(m[2] ?? 3) };
  }
  const started = Date.now();
  await labUp({
    name: values.name,
    hosts: num("hosts", values.hosts ?? (fabric ? "2" : "3")),
    ...(fabric
      ? {
          racks: num("racks", values.racks ?? "2"),
          tor: (values.tor ?? "mixed") as "bird" | "frr" | "tabby" | "mixed",
          asModel: (values["as-model"] ?? "rack") as "rack" | "host",
          ...(bfd ? { bfd } : {}),
        }
      : {}),
    workloads: num("workloads", values.workloads),
    ...(values.vms !== undefined ? { vms: num("vms", values.vms) } : {}),
    holdTime: num("hold-time", values["hold-time"]),
    policies,
    datastore: values.datastore,
    // absent: a mesh, or route reflectors above AUTO_RR_ABOVE hosts (src/lab/up.ts)
    ...(values.topology ? { topology: values.topology } : {}),
    say: (line) => io.stdout.write(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] ${line}\n`),
  });
  return 0;
}
