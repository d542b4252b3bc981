/**
 * The datastore schema version: which layout of keys and values a datastore holds, so that an
 * agent never runs against a datastore written by a newer, incompatible tabby (as Calico's
 * ClusterInformation.calicoVersion records who last wrote the cluster's data).
 *
 * One key, SCHEMA_KEY, holds JSON {version, minReader, writtenBy}: `version` is the newest schema
 * any writer used; `minReader` the oldest schema a reader must understand to use the data safely.
 * A tabby that changes the layout in a way older agents still read (new optional fields, new
 * kinds) raises `version` and keeps `minReader`: a rolling upgrade runs old and new agents side by
 * side. A change old agents would misread raises `minReader` too, and those agents then refuse to
 * start (DS_SCHEMA_TOO_NEW) instead of programming a dataplane from data they do not understand.
 * The decision (decideSchema) is pure; ensureSchema does the datastore I/O.
 */
import { TabbyError } from "../errors.js";
import { DatastoreError, type Store } from "./store.js";

export const SCHEMA_KEY = "/calico/tabby/v1/schema";
/** The schema this tabby writes. */
export const SCHEMA_VERSION = 1;
/** The oldest schema whose readers can use what this tabby writes. */
export const SCHEMA_MIN_READER = 1;

export interface SchemaRecord {
  version: number;
  minReader: number;
  writtenBy: string;
}

export type SchemaDecision = { action: "keep" } | { action: "write"; record: SchemaRecord; revision?: number };

function parseRecord(text: string): SchemaRecord {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new TabbyError("DS_SCHEMA_BAD", `the datastore's schema record (${SCHEMA_KEY}) is not JSON: ${text.slice(0, 80)}`);
  }
  const r = v as Partial<SchemaRecord> | null;
  if (!r || !Number.isInteger(r.version) || !Number.isInteger(r.minReader) || (r.version as number) < 1 || (r.minReader as number) < 1) {
    throw new TabbyError("DS_SCHEMA_BAD", `the datastore's schema record (${SCHEMA_KEY}) needs whole numbers version and minReader: ${text.slice(0, 80)}`);
  }
  return { version: r.version as number, minReader: r.minReader as number, writtenBy: typeof r.writtenBy === "string" ? r.writtenBy : "unknown" };
}

/**
 * What to do with the datastore's schema record, for a reader of schema `mine` (pure).
 * Refuses (DS_SCHEMA_TOO_NEW) when the datastore needs a newer reader.
 */
export function decideSchema(
  stored: { value: string; revision: number } | undefined,
  me: { version: number; minReader: number; tabby: string },
): SchemaDecision {
  const fresh: SchemaRecord = { version: me.version, minReader: me.minReader, writtenBy: me.tabby };
  if (!stored) return { action: "write", record: fresh };
  const rec = parseRecord(stored.value);
  if (rec.minReader > me.version) {
    throw new TabbyError(
      "DS_SCHEMA_TOO_NEW",
      `the datastore holds schema ${rec.version} written by tabby ${rec.writtenBy}, which readers of schema ${rec.minReader} or newer need; ` +
        `this is tabby ${me.tabby} (schema ${me.version}): upgrade this host's tabby to at least the version that wrote the datastore`,
      { stored: rec, mine: me.version },
    );
  }
  if (rec.version >= me.version) return { action: "keep" };
  // An older schema: this tabby's layout is newer; record it (never lowering minReader).
  return { action: "write", record: { ...fresh, minReader: Math.max(rec.minReader, me.minReader) }, revision: stored.revision };
}

/** Reads, checks and (when this tabby is the first or the newest) records the schema. */
export async function ensureSchema(store: Store, tabby: string, me = { version: SCHEMA_VERSION, minReader: SCHEMA_MIN_READER }): Promise<SchemaRecord> {
  for (let attempt = 0; ; attempt++) {
    const kv = await store.get(SCHEMA_KEY);
    const d = decideSchema(kv ? { value: kv.value, revision: kv.revision } : undefined, { ...me, tabby });
    if (d.action === "keep") return parseRecord(kv!.value);
    try {
      if (d.revision === undefined) await store.create(SCHEMA_KEY, JSON.stringify(d.record));
      else await store.update(SCHEMA_KEY, JSON.stringify(d.record), { revision: d.revision });
      return d.record;
    } catch (err) {
      // another agent wrote it first: decide again on what it wrote
      const lost = err instanceof DatastoreError && (err.code === "DS_ALREADY_EXISTS" || err.code === "DS_CONFLICT");
      if (!lost || attempt >= 5) throw err;
    }
  }
}
