/**
 * `tabby patch KIND NAME -p PATCH [-n NAMESPACE]`: apply a JSON merge patch (RFC 7386) to one
 * resource, like `calicoctl patch` (e.g. `-p '{"spec":{"disabled":true}}'`). The patched object
 * is validated like any write, and written with compare-and-swap on the revision it was read at;
 * a concurrent change makes it read, patch and try again. `kind`, `apiVersion` and the name and
 * namespace cannot be patched.
 */
import type { CliIO } from "./command.js";
import { UsageError } from "./command.js";
import { describeResource, withStore } from "./apply.js";
import { parseCommandLine } from "./parse.js";
import { mergePatch } from "./merge-patch.js";
import { resolveKind } from "../model/kinds.js";
import { KINDS } from "../model/keys.js";
import { DatastoreError } from "../datastore/store.js";
import { TabbyError, hasCode } from "../errors.js";
import { ValidationError } from "../model/errors.js";
import type { Resource } from "../model/resource.js";

const USAGE = "tabby patch KIND NAME -p PATCH [-n NAMESPACE] [--datastore URL]";
const RETRIES = 5;

export async function run(argv: string[], io: CliIO): Promise<number> {
  const parsed = parseCommandLine("patch", argv, io);
  if (!parsed) return 0;
  const { values, positionals } = parsed;
  const [kindText, name, ...extra] = positionals;
  if (!kindText || !name) throw new UsageError(`KIND and NAME are required\nusage: ${USAGE}`);
  if (extra.length) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}\nusage: ${USAGE}`);
  const kind = resolveKind(kindText);
  if (!kind) throw new UsageError(`unknown resource kind ${JSON.stringify(kindText)}`);
  const text = values.patch as string | undefined;
  if (text === undefined) throw new UsageError(`-p PATCH is required\nusage: ${USAGE}`);
  const ns = KINDS[kind]!.namespaced ? ((values.namespace as string | undefined) ?? "default") : undefined;
  const id = describeResource({ kind, metadata: { name, ...(ns !== undefined ? { namespace: ns } : {}) } });
  return withStore("patch", io, values.datastore as string | undefined, async (client) => {
    let patch: unknown;
    try {
      patch = JSON.parse(text);
    } catch (err) {
      throw new TabbyError("CLI_PATCH", `-p: not JSON: ${(err as Error).message}`, {}, { cause: err });
    }
    if (typeof patch !== "object" || patch === null || Array.isArray(patch)) throw new TabbyError("CLI_PATCH", "-p: a merge patch must be a JSON object");
    for (let attempt = 0; ; attempt++) {
      const cur = await client.get(kind, name, ns);
      if (!cur) throw new DatastoreError("DS_NOT_FOUND", `resource does not exist: ${id}`, { kind, name });
      const next = mergePatch(cur, patch) as Resource;
      const fixed: [string, unknown, unknown][] = [
        ["apiVersion", next.apiVersion, cur.apiVersion],
        ["kind", next.kind, cur.kind],
        ["metadata.name", next.metadata?.name, cur.metadata.name],
        ["metadata.namespace", next.metadata?.namespace, cur.metadata.namespace],
      ];
      const bad = fixed.filter(([, a, b]) => a !== b).map(([path]) => ({ path, message: "cannot be changed by a patch" }));
      if (bad.length) throw new ValidationError(bad, { kind, name, source: "-p" });
      // Compare-and-swap on what we read (the patch of a stale object must not win).
      next.metadata.resourceVersion = cur.metadata.resourceVersion;
      try {
        await client.update(next);
        break;
      } catch (err) {
        if (hasCode(err, "DS_CONFLICT") && attempt < RETRIES) continue;
        if (err instanceof ValidationError) throw new ValidationError(err.errors, { kind, name, source: "-p" });
        throw err;
      }
    }
    io.stdout.write(`Successfully patched 1 '${kind}' resource\n`);
    return 0;
  });
}
