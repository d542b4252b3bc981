/**
 * `tabby delete KIND NAME [NAME…] [-n NAMESPACE]` or `tabby delete -f FILE`: delete resources,
 * like `calicoctl delete`. `--skip-not-exists` makes a missing resource not an error.
 */
import type { CliIO } from "./command.js";
import { UsageError } from "./command.js";
import { loadManifests, partialFailure, reportErrors, withClient } from "./apply.js";
import { parseCommandLine } from "./parse.js";
import { resolveKind } from "../model/kinds.js";
import { KINDS } from "../datastore/keys.js";
import { hasCode, TabbyError } from "../errors.js";
import type { Resource } from "../model/resource.js";

const USAGE = "tabby delete KIND NAME [NAME...] [-n NAMESPACE] | -f FILE [--skip-not-exists] [--datastore URL]";

export async function run(argv: string[], io: CliIO): Promise<number> {
  const parsed = parseCommandLine("delete", argv, io);
  if (!parsed) return 0;
  const { values, positionals } = parsed;
  const files = (values.filename as string[] | undefined) ?? [];
  const namespace = values.namespace as string | undefined;
  let targets: { kind: string; name: string; namespace?: string }[] | undefined;
  if (files.length) {
    if (positionals.length) throw new UsageError(`give either -f FILE or KIND NAME, not both\nusage: ${USAGE}`);
  } else {
    const [kindText, ...names] = positionals;
    if (!kindText || !names.length) throw new UsageError(`KIND and NAME are required\nusage: ${USAGE}`);
    const kind = resolveKind(kindText);
    if (!kind) throw new UsageError(`unknown resource kind ${JSON.stringify(kindText)}`);
    const ns = KINDS[kind]!.namespaced ? (namespace ?? "default") : undefined;
    targets = names.map((name) => ({ kind, name, ...(ns !== undefined ? { namespace: ns } : {}) }));
  }
  return reportErrors("delete", io, async () => {
    const list =
      targets ??
      (await loadManifests(files, io, namespace)).map((r: Resource) => ({
        kind: r.kind,
        name: r.metadata.name,
        ...(r.metadata.namespace !== undefined ? { namespace: r.metadata.namespace } : {}),
      }));
    return withClient(values.datastore as string | undefined, io, async (client) => {
      let done = 0;
      for (const t of list) {
        const asResource = { kind: t.kind, metadata: { name: t.name, namespace: t.namespace } };
        try {
          await client.delete(t.kind, t.name, t.namespace);
          done++;
        } catch (err) {
          if (hasCode(err, "DS_NOT_FOUND")) {
            if (values["skip-not-exists"]) continue;
            throw partialFailure("deleted", done, list.length, asResource as Resource, new TabbyError("DS_NOT_FOUND", "resource does not exist"));
          }
          if (err instanceof TabbyError) throw partialFailure("deleted", done, list.length, asResource as Resource, err);
          throw err;
        }
      }
      io.stdout.write(`Successfully deleted ${done} resource(s)\n`);
      return 0;
    });
  });
}
