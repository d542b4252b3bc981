/**
 * `tabby label KIND NAME KEY=VALUE… [KEY-…] [--overwrite] [-n NAMESPACE]`: set or remove labels
 * on one resource, like `calicoctl label` (which also takes `KEY --remove`, accepted here too).
 * Changing an existing label's value needs --overwrite; removing an absent label is an error, as
 * in calicoctl. The write is validated and compare-and-swapped on the revision it was read at,
 * retried when someone else changed the resource in between.
 */
import type { CliIO } from "./command.js";
import { UsageError } from "./command.js";
import { describeResource, withStore } from "./apply.js";
import { parseCommandLine } from "./parse.js";
import { resolveKind } from "../model/kinds.js";
import { KINDS } from "../model/keys.js";
import { DatastoreError } from "../datastore/store.js";
import { TabbyError, hasCode } from "../errors.js";
import { ValidationError } from "../model/errors.js";

const USAGE = "tabby label KIND NAME KEY=VALUE... [KEY-...] [--overwrite] | KIND NAME KEY --remove  [-n NAMESPACE] [--datastore URL]";
const RETRIES = 5;

export type LabelChange = { key: string; value: string } | { key: string; remove: true };

/** Parses `k=v` and `k-` arguments (and a bare `k` when `remove`). */
export function parseLabelChanges(args: string[], remove: boolean): LabelChange[] {
  if (!args.length) throw new UsageError(`at least one label is required\nusage: ${USAGE}`);
  const out: LabelChange[] = [];
  for (const a of args) {
    const eq = a.indexOf("=");
    if (eq > 0) {
      if (remove) throw new UsageError(`--remove takes label keys, not ${JSON.stringify(a)}`);
      out.push({ key: a.slice(0, eq), value: a.slice(eq + 1) });
    } else if (a.endsWith("-") && a.length > 1 && eq < 0) out.push({ key: a.slice(0, -1), remove: true });
    else if (remove && eq < 0 && a !== "") out.push({ key: a, remove: true });
    else throw new UsageError(`bad label ${JSON.stringify(a)}: expected KEY=VALUE or KEY-`);
  }
  const keys = out.map((c) => c.key);
  const dup = keys.find((k, i) => keys.indexOf(k) !== i);
  if (dup !== undefined) throw new UsageError(`label ${JSON.stringify(dup)} given more than once`);
  return out;
}

export async function run(argv: string[], io: CliIO): Promise<number> {
  const parsed = parseCommandLine("label", argv, io);
  if (!parsed) return 0;
  const { values, positionals } = parsed;
  const [kindText, name, ...rest] = positionals;
  if (!kindText || !name) throw new UsageError(`KIND and NAME are required\nusage: ${USAGE}`);
  const kind = resolveKind(kindText);
  if (!kind) throw new UsageError(`unknown resource kind ${JSON.stringify(kindText)}`);
  const changes = parseLabelChanges(rest, values.remove === true);
  const ns = KINDS[kind]!.namespaced ? ((values.namespace as string | undefined) ?? "default") : undefined;
  const id = describeResource({ kind, metadata: { name, ...(ns !== undefined ? { namespace: ns } : {}) } });
  return withStore("label", io, values.datastore as string | undefined, async (client) => {
    for (let attempt = 0; ; attempt++) {
      const cur = await client.get(kind, name, ns);
      if (!cur) throw new DatastoreError("DS_NOT_FOUND", `resource does not exist: ${id}`, { kind, name });
      const labels = { ...(cur.metadata.labels ?? {}) };
      for (const c of changes) {
        if ("remove" in c) {
          if (!(c.key in labels)) throw new TabbyError("CLI_LABEL", `${id} has no label ${JSON.stringify(c.key)}`, { key: c.key });
          delete labels[c.key];
        } else {
          if (c.key in labels && labels[c.key] !== c.value && values.overwrite !== true) {
            throw new TabbyError("CLI_LABEL", `${id} already has label ${c.key}=${labels[c.key]}; use --overwrite to change it`, { key: c.key });
          }
          labels[c.key] = c.value;
        }
      }
      const next = { ...cur, metadata: { ...cur.metadata, labels } };
      try {
        await client.update(next);
        break;
      } catch (err) {
        if (hasCode(err, "DS_CONFLICT") && attempt < RETRIES) continue;
        if (err instanceof ValidationError) throw new ValidationError(err.errors, { kind, name, source: "command line" });
        throw err;
      }
    }
    io.stdout.write(`Successfully updated labels of ${id}\n`);
    return 0;
  });
}
