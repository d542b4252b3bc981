/**
 * `tabby replace -f FILE [-f FILE…]`: update every resource in the files, like
 * `calicoctl replace`; fails (and writes nothing) if any does not exist. A given
 * `metadata.resourceVersion` makes that update a compare-and-swap. All documents are validated,
 * and checked to exist, before any is written; a write failing mid-way rolls back the earlier ones.
 */
import type { CliIO } from "./command.js";
import { loadSourcedManifests, reportErrors, sourcedId, withClient } from "./apply.js";
import { checkExistence, parseFileCommand } from "./file-command.js";
import { progressTo, writeBatch } from "./write-batch.js";
import { withInterrupt } from "./interrupt.js";

export async function run(argv: string[], io: CliIO): Promise<number> {
  const args = parseFileCommand(argv, "replace", io);
  if (!args) return 0;
  return reportErrors("replace", io, async () => {
    const sourced = await loadSourcedManifests(args.files, io, args.namespace);
    return withClient(args.datastore, io, async (client) => {
      await checkExistence(client, sourced, true);
      const done = await withInterrupt((signal) =>
        writeBatch(client.store, sourced, sourcedId, (c, s) => c.update(s.resource), "replaced", {
          signal,
          onProgress: progressTo(io.stderr, "replace", sourced.length),
        }),
      );
      io.stdout.write(`Successfully replaced ${done} resource(s)\n`);
      return 0;
    });
  });
}
