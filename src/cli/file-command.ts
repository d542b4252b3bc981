/**
 * What `apply`, `create` and `replace` share: their flags (`-f FILE...`, `-n`, `--datastore`),
 * and for `create`/`replace` the check, before anything is written, that every resource in the
 * input is named once and does (replace) or does not (create) exist yet.
 */
import type { CliIO } from "./command.js";
import { UsageError } from "./command.js";
import { describeResource, sourcedId, type SourcedResource } from "./apply.js";
import { parseCommandLine } from "./parse.js";
import type { ResourceClient } from "../datastore/resource-client.js";
import { DatastoreError } from "../datastore/store.js";

export interface FileCommandArgs {
  files: string[];
  namespace: string | undefined;
  datastore: string | undefined;
}

export const fileCommandUsage = (verb: string) => `tabby ${verb} -f FILE [-f FILE...] [-n NAMESPACE] [--datastore URL]`;

/** Parses the flags; undefined when -h printed the usage. */
export function parseFileCommand(argv: string[], verb: "apply" | "create" | "replace", io: CliIO): FileCommandArgs | undefined {
  const usage = fileCommandUsage(verb);
  const parsed = parseCommandLine(verb, argv, io);
  if (!parsed) return undefined;
  const { values, positionals } = parsed;
  const files = values.filename ?? [];
  if (!files.length) throw new UsageError(`-f FILE is required\nusage: ${usage}`);
  if (positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}\nusage: ${usage}`);
  return { files, namespace: values.namespace as string | undefined, datastore: values.datastore as string | undefined };
}

/**
 * Refuses the whole input (nothing written) if a resource appears twice, or if one exists
 * when `mustExist` is false (create) or is missing when it is true (replace).
 */
export async function checkExistence(client: ResourceClient, sourced: SourcedResource[], mustExist: boolean): Promise<void> {
  const seen = new Set<string>();
  for (const src of sourced) {
    const r = src.resource;
    const id = describeResource(r);
    const where = sourcedId(src).label.slice(0, -id.length);
    if (seen.has(id)) {
      throw new DatastoreError("DS_ALREADY_EXISTS", `${where}${id} appears more than once in the input${mustExist ? "; nothing was replaced" : ""}`);
    }
    seen.add(id);
    const exists = (await client.get(r.kind, r.metadata.name, r.metadata.namespace)) !== undefined;
    if (exists && !mustExist) throw new DatastoreError("DS_ALREADY_EXISTS", `${where}resource already exists: ${id}; nothing was created`);
    if (!exists && mustExist) {
      throw new DatastoreError("DS_NOT_FOUND", `${where}resource does not exist: ${id}; nothing was replaced`, { kind: r.kind, name: r.metadata.name });
    }
  }
}
