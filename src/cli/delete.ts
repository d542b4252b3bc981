/**
 * `tabby delete KIND NAME [NAME…] [-n NAMESPACE]` or `tabby delete -f FILE`: delete resources,
 * like `calicoctl delete`. `--skip-not-exists` makes a missing resource not an error.
 */
import type { CliIO } from "./command.js";
import { UsageError } from "./command.js";
import { loadSourcedManifests, reportErrors, resourceId, sourcedId, withClient } from "./apply.js";
import { progressTo, writeBatch } from "./write-batch.js";
import { withInterrupt } from "./interrupt.js";
import type { ResourceClient } from "../datastore/resource-client.js";
import { parseCommandLine } from "./parse.js";
import { resolveKind } from "../model/kinds.js";
import { KINDS } from "../model/keys.js";
import { hasCode, TabbyError } from "../errors.js";
import type { Resource } from "../model/resource.js";

const USAGE = "tabby delete KIND NAME [NAME...] [-n NAMESPACE] | -f FILE [--skip-not-exists] [--datastore URL]";

export async function run(argv: string[], io: CliIO): Promise<number> {
  const parsed = parseCommandLine("delete", argv, io);
  if (!parsed) return 0;
  const { values, positionals } = parsed;
  const files = (values.filename as string[] | undefined) ?? [];
  const namespace = values.namespace as string | undefined;
  let targets: { kind: string; name: string; namespace?: string; label?: string }[] | undefined;
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
      (await loadSourcedManifests(files, io, namespace)).map((s) => ({
        kind: s.resource.kind,
        name: s.resource.metadata.name,
        ...(s.resource.metadata.namespace !== undefined ? { namespace: s.resource.metadata.namespace } : {}),
        label: sourcedId(s).label,
      }));
    return withClient(values.datastore as string | undefined, io, async (client) => {
      // One transaction, as apply: a missing resource, a tier still in use or SIGINT deletes nothing.
      const id = (t: (typeof list)[number]) => {
        const r = resourceId({ kind: t.kind, metadata: { name: t.name, namespace: t.namespace } } as Resource);
        return t.label ? { key: r.key, label: t.label } : r;
      };
      const del = async (c: ResourceClient, t: (typeof list)[number]) => {
        try {
          await c.delete(t.kind, t.name, t.namespace);
          return true;
        } catch (err) {
          if (!hasCode(err, "DS_NOT_FOUND")) throw err;
          if (values["skip-not-exists"]) return false;
          throw new TabbyError("DS_NOT_FOUND", "resource does not exist");
        }
      };
      // Tiers last: a file that made a tier and its policies deletes them together (the tier's
      // "still holds policies" check runs inside the transaction, after the policies are gone).
      const ordered = [...list.filter((t) => t.kind !== "Tier"), ...list.filter((t) => t.kind === "Tier")];
      const done = await withInterrupt((signal) =>
        writeBatch(client.store, ordered, id, del, "deleted", { signal, onProgress: progressTo(io.stderr, "delete", list.length) }),
      );
      io.stdout.write(`Successfully deleted ${done} resource(s)\n`);
      return 0;
    });
  });
}
