/**
 * `tabby replace -f FILE [-f FILE…]`: update every resource in the files, like
 * `calicoctl replace`; fails (and writes nothing) if any does not exist. A given
 * `metadata.resourceVersion` makes that update a compare-and-swap. All documents are validated,
 * and checked to exist, before any is written; a write failing mid-way rolls back the earlier ones.
 */
import type { CliIO } from "./command.js";
import { UsageError } from "./command.js";
import { describeResource, loadSourcedManifests, parseCommandArgs, reportErrors, sourcedId, withClient } from "./apply.js";
import { writeAllOrNothing } from "./undo-log.js";
import { DatastoreError } from "../datastore/store.js";

const OPTIONS = {
  filename: { type: "string", short: "f", multiple: true },
  namespace: { type: "string", short: "n" },
  datastore: { type: "string" },
} as const;
const USAGE = "tabby replace -f FILE [-f FILE...] [-n NAMESPACE] [--datastore URL]";

export async function run(argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, OPTIONS, USAGE);
  if (values.help) {
    io.stdout.write(`usage: ${USAGE}\n`);
    return 0;
  }
  const files = (values.filename as string[] | undefined) ?? [];
  if (!files.length) throw new UsageError(`-f FILE is required\nusage: ${USAGE}`);
  if (positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}\nusage: ${USAGE}`);
  return reportErrors("replace", io, async () => {
    const sourced = await loadSourcedManifests(files, io, values.namespace as string | undefined);
    return withClient(values.datastore as string | undefined, io, async (client) => {
      const seen = new Set<string>();
      for (const src of sourced) {
        const r = src.resource;
        const id = describeResource(r);
        const where = sourcedId(src).label.slice(0, -id.length);
        if (seen.has(id)) throw new DatastoreError("DS_ALREADY_EXISTS", `${where}${id} appears more than once in the input; nothing was replaced`);
        seen.add(id);
        if (!(await client.get(r.kind, r.metadata.name, r.metadata.namespace))) {
          throw new DatastoreError("DS_NOT_FOUND", `${where}resource does not exist: ${id}; nothing was replaced`, { kind: r.kind, name: r.metadata.name });
        }
      }
      const done = await writeAllOrNothing(client.store, sourced, sourcedId, async (s) => Number((await client.update(s.resource)).metadata.resourceVersion), "replaced");
      io.stdout.write(`Successfully replaced ${done} resource(s)\n`);
      return 0;
    });
  });
}
