/**
 * `tabby lab up [--hosts N] [--workloads M] [--name NAME] [--policy FILE...]
 * [--datastore sqlite|etcd]`: build the virtual data center; policy manifests are applied once
 * the datastore is seeded.
 */
import { parseArgs } from "node:util";
import type { CliIO } from "./command.js";
import { UsageError } from "./command.js";
import { labUp } from "../lab/up.js";
import { DEFAULT_LAB_NAME } from "../lab/plan.js";
import { parseManifests, type Resource } from "../model/index.js";
import { readFileSync } from "node:fs";

export async function run(argv: string[], io: CliIO): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      hosts: { type: "string", default: "3" },
      workloads: { type: "string", default: "2" },
      name: { type: "string", default: DEFAULT_LAB_NAME },
      "hold-time": { type: "string", default: "9" },
      policy: { type: "string", multiple: true },
      datastore: { type: "string", default: "sqlite" },
      topology: { type: "string", default: "mesh" },
    },
    strict: true,
  });
  const num = (flag: string, v: string) => {
    if (!/^\d+$/.test(v)) throw new UsageError(`--${flag} takes a whole number, got "${v}"`);
    return Number(v);
  };
  // Manifests are read and validated before anything is built.
  const policies: Resource[] = [];
  for (const file of values.policy ?? []) policies.push(...parseManifests(readFileSync(file, "utf8"), file));
  if (values.datastore !== "sqlite" && values.datastore !== "etcd") throw new UsageError(`--datastore must be sqlite or etcd, got "${values.datastore}"`);
  if (values.topology !== "mesh" && values.topology !== "rr") throw new UsageError(`--topology is mesh or rr, got "${values.topology}"`);
  const started = Date.now();
  await labUp({
    name: values.name,
    hosts: num("hosts", values.hosts),
    workloads: num("workloads", values.workloads),
    holdTime: num("hold-time", values["hold-time"]),
    policies,
    datastore: values.datastore,
    topology: values.topology,
    say: (line) => io.stdout.write(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] ${line}\n`),
  });
  return 0;
}
