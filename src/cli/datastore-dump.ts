/**
 * The file format of `tabby datastore export` / `import`: one YAML stream (documents separated by
 * `---`) or one JSON array. Every Calico v3 resource is a document as `calicoctl get -o yaml`
 * prints it, keeping `uid` and `creationTimestamp` but not `resourceVersion` (a revision means
 * nothing in another store). Every other key under `/calico/` — IPAM blocks, affinities and
 * handles (`/calico/ipam/v2/…`) — is a document `{apiVersion: tabby/v1, kind: DatastoreKey,
 * key, value}` with the stored value byte for byte. Keys attached to a lease (liveness) are
 * not exported: they belong to a running process. Pure: no I/O.
 */
import { parseAllDocuments, stringify } from "yaml";
import { RESOURCE_ROOT, parseResourceKey, resourceKey } from "../model/keys.js";
import type { KV } from "../datastore/store.js";
import { ManifestParseError, ValidationError, type FieldError } from "../model/errors.js";
import { validateResource } from "../model/validate.js";
import type { Resource } from "../model/resource.js";
import { API_VERSION } from "../model/resource.js";

export const DUMP_ROOT = "/calico/";
export const RAW_API_VERSION = "tabby/v1";
export const RAW_KIND = "DatastoreKey";

export interface RawKeyDoc {
  apiVersion: typeof RAW_API_VERSION;
  kind: typeof RAW_KIND;
  key: string;
  value: string;
}

export type DumpDoc = Resource | RawKeyDoc;

/** One key/value to write on import, with the label used in messages. */
export interface DumpEntry {
  key: string;
  value: string;
  label: string;
}

/** The document for one stored key (undefined for leased keys, which are not exported). */
export function docOfKV(kv: KV): DumpDoc | undefined {
  if (kv.lease !== undefined) return undefined;
  if (kv.key.startsWith(RESOURCE_ROOT) && parseResourceKey(kv.key)) {
    try {
      const r = JSON.parse(kv.value) as Resource;
      if (r.metadata) delete r.metadata.resourceVersion;
      const o: Resource = { apiVersion: r.apiVersion ?? API_VERSION, kind: r.kind, metadata: r.metadata && orderedMeta(r.metadata), spec: r.spec };
      if (r.status !== undefined) o.status = r.status;
      return o;
    } catch {
      // Not JSON: kept byte for byte as a raw key.
    }
  }
  return { apiVersion: RAW_API_VERSION, kind: RAW_KIND, key: kv.key, value: kv.value };
}

/**
 * ObjectMeta's field order (as the model writes metadata), so an export of an imported store is
 * byte for byte the export it came from, whichever order the first store kept the fields in.
 */
const META_ORDER = [
  "name",
  "generateName",
  "namespace",
  "selfLink",
  "uid",
  "resourceVersion",
  "generation",
  "creationTimestamp",
  "deletionTimestamp",
  "deletionGracePeriodSeconds",
  "labels",
  "annotations",
  "ownerReferences",
  "finalizers",
  "managedFields",
];

function orderedMeta<M extends object>(m: M): M {
  const rank = (k: string) => (META_ORDER.includes(k) ? META_ORDER.indexOf(k) : META_ORDER.length);
  return Object.fromEntries(Object.entries(m).sort(([a], [b]) => rank(a) - rank(b))) as M;
}

export function renderDump(docs: DumpDoc[], format: "yaml" | "json"): string {
  if (format === "json") return `${JSON.stringify(docs, null, 2)}\n`;
  return docs.map((d) => `---\n${stringify(d, { lineWidth: 0 })}`).join("");
}

/**
 * Parses and validates a dump, all of it before anything is written: resources through the
 * model's validation (errors name the file, the document from 1 and the field path), raw keys
 * checked to lie under /calico/ outside the resource tree. Duplicate keys are an error.
 */
export function parseDump(text: string, source: string): DumpEntry[] {
  const trimmed = text.trimStart();
  let values: unknown[];
  if (trimmed.startsWith("[")) {
    try {
      values = JSON.parse(text) as unknown[];
    } catch (err) {
      throw new ManifestParseError(`not JSON: ${(err as Error).message}`, { source });
    }
  } else {
    values = [];
    parseAllDocuments(text, { prettyErrors: false }).forEach((doc, i) => {
      const err = doc.errors[0];
      if (err) {
        const pos = err.linePos?.[0];
        throw new ManifestParseError(`${pos ? `line ${pos.line}, column ${pos.col}: ` : ""}${err.message.split("\n")[0]}`, { source, document: i + 1 });
      }
      values.push(doc.toJS({ maxAliasCount: 100 }));
    });
  }
  const out: DumpEntry[] = [];
  const seen = new Map<string, number>();
  values.forEach((v, i) => {
    const document = i + 1;
    if (v === null || v === undefined) return;
    let entry: DumpEntry;
    const o = v as Record<string, unknown>;
    if (typeof o === "object" && o.kind === RAW_KIND) {
      const errors: FieldError[] = [];
      if (o.apiVersion !== RAW_API_VERSION) errors.push({ path: "apiVersion", message: `must be ${RAW_API_VERSION}` });
      for (const k of Object.keys(o)) if (!["apiVersion", "kind", "key", "value"].includes(k)) errors.push({ path: k, message: "unknown field" });
      if (typeof o.key !== "string" || !o.key.startsWith(DUMP_ROOT)) errors.push({ path: "key", message: `must be a string under ${DUMP_ROOT}` });
      else if (o.key.startsWith(RESOURCE_ROOT)) errors.push({ path: "key", message: "resource keys are written as resources, not raw keys" });
      if (typeof o.value !== "string") errors.push({ path: "value", message: "must be a string" });
      if (errors.length) throw new ValidationError(errors, { kind: RAW_KIND, source, document, ...(typeof o.key === "string" ? { name: o.key } : {}) });
      entry = { key: o.key as string, value: o.value as string, label: `${RAW_KIND}(${o.key as string})` };
    } else {
      // a copy of what a datastore holds: values tabby does not honour (written by another tool
      // or an older tabby) are carried over as they are, as the agent reads them ("stored")
      const r = validateResource(v, { source, document }, { stored: true });
      const meta = r.metadata;
      delete meta.resourceVersion;
      const ns = meta.namespace ? `${meta.namespace}/` : "";
      entry = { key: resourceKey(r.kind, meta.name, meta.namespace), value: JSON.stringify(r), label: `${r.kind}(${ns}${meta.name})` };
    }
    const prev = seen.get(entry.key);
    if (prev !== undefined) throw new ManifestParseError(`${entry.label} appears twice (documents ${prev} and ${document})`, { source, document });
    seen.set(entry.key, document);
    out.push(entry);
  });
  return out;
}
