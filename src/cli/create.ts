/**
 * `tabby create -f FILE [-f FILE…]`: create every resource in the files, like
 * `calicoctl create`; fails if any already exists. All documents are validated, and checked
 * not to exist, before any is written.
 */
import type { CliIO } from "./command.js";
import { loadSourcedManifests, reportErrors, sourcedId, withClient } from "./apply.js";
import { checkExistence, parseFileCommand } from "./file-command.js";
import { progressTo, writeBatch } from "./write-batch.js";
import { withInterrupt } from "./interrupt.js";

export async function run(argv: string[], io: CliIO): Promise<number> {
  const args = parseFileCommand(argv, "create", io);
  if (!args) return 0;
  return reportErrors("create", io, async () => {
    const sourced = await loadSourcedManifests(args.files, io, args.namespace);
    return withClient(args.datastore, io, async (client) => {
      await checkExistence(client, sourced, false);
      const done = await withInterrupt((signal) =>
        writeBatch(client.store, sourced, sourcedId, (c, s) => c.create(s.resource), "created", {
          signal,
          onProgress: progressTo(io.stderr, "create", sourced.length),
        }),
      );
      io.stdout.write(`Successfully created ${done} resource(s)\n`);
      return 0;
    });
  });
}
