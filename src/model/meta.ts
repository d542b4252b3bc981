/**
 * Object metadata as Calico validates it (libcalico-go validator `validateObjectMeta`, which
 * uses Kubernetes' rules): names are DNS-1123 subdomains of at most 253 characters; label and
 * annotation keys are qualified names (`[prefix/]name`, prefix a DNS-1123 subdomain ≤ 253,
 * name ≤ 63 of `[A-Za-z0-9][-A-Za-z0-9_.]*[A-Za-z0-9]`); label values ≤ 63 characters of the
 * same form or empty; annotations ≤ 256 KiB in total; namespaces are DNS-1123 labels.
 * Pure: no I/O.
 */
import { type Checker, childPath, describe, isPlainObject, str, anything, mapOf, matching, type Field } from "./check.js";
import type { ObjectMeta } from "./resource.js";

const LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
export const DNS1123_LABEL = new RegExp(`^${LABEL_FMT}$`);
export const DNS1123_SUBDOMAIN = new RegExp(`^${LABEL_FMT}(\\.${LABEL_FMT})*$`);
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const MAX_ANNOTATIONS_BYTES = 256 * 1024;

/** Why `name` is not a valid resource name, or undefined when it is. */
export function nameProblem(name: string): string | undefined {
  if (name === "") return "is required";
  if (name.length > 253) return `must be at most 253 characters, got ${name.length}`;
  if (!DNS1123_SUBDOMAIN.test(name)) {
    return `must consist of lower case alphanumeric characters, '-' or '.', and start and end with an alphanumeric character, got ${describe(name)}`;
  }
  return undefined;
}

/** Why `key` is not a valid label/annotation key (Kubernetes qualified name), or undefined. */
export function qualifiedNameProblem(key: string): string | undefined {
  const slash = key.lastIndexOf("/");
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined) {
    if (prefix === "") return "key prefix must not be empty";
    if (prefix.length > 253 || !DNS1123_SUBDOMAIN.test(prefix)) return `key prefix ${describe(prefix)} must be a DNS-1123 subdomain`;
  }
  if (name === "") return "key name must not be empty";
  if (name.length > 63) return `key name must be at most 63 characters, got ${name.length}`;
  if (!QUALIFIED_NAME.test(name)) {
    return `key name ${describe(name)} must consist of alphanumeric characters, '-', '_' or '.', and start and end with an alphanumeric character`;
  }
  return undefined;
}

/** Why `value` is not a valid label value, or undefined. */
export function labelValueProblem(value: string): string | undefined {
  if (value === "") return undefined;
  if (value.length > 63) return `must be at most 63 characters, got ${value.length}`;
  if (!QUALIFIED_NAME.test(value)) {
    return `must be empty or consist of alphanumeric characters, '-', '_' or '.', and start and end with an alphanumeric character, got ${describe(value)}`;
  }
  return undefined;
}

const labelValue: Field<string> = (v, path, c) => {
  const s = str(v, path, c);
  if (s === undefined) return undefined;
  const p = labelValueProblem(s);
  if (p) return void c.error(path, p);
  return s;
};

/** Labels map (also used for Profile `labelsToApply`). */
export const labelsField: Field<Record<string, string>> = mapOf(labelValue, qualifiedNameProblem);

export const annotationsField: Field<Record<string, string>> = (v, path, c) => {
  const m = mapOf(str, qualifiedNameProblem)(v, path, c);
  if (m) {
    let total = 0;
    for (const [k, x] of Object.entries(m)) total += k.length + x.length;
    if (total > MAX_ANNOTATIONS_BYTES) c.error(path, `must be at most ${MAX_ANNOTATIONS_BYTES} bytes in total, got ${total}`);
  }
  return m;
};

/** Metadata fields Kubernetes' ObjectMeta defines; those tabby does not use are kept as they are. */
const META_FIELDS: Record<string, Field> = {
  name: str,
  generateName: str,
  namespace: matching(DNS1123_LABEL, "a DNS-1123 label (lower case alphanumerics and '-', at most 63 characters)"),
  selfLink: str,
  uid: str,
  resourceVersion: str,
  generation: anything,
  creationTimestamp: str,
  deletionTimestamp: anything,
  deletionGracePeriodSeconds: anything,
  labels: labelsField,
  annotations: annotationsField,
  ownerReferences: anything,
  finalizers: anything,
  managedFields: anything,
};

/**
 * Validates `metadata` at path "metadata". `namespaced` says whether the kind is namespaced:
 * then a namespace is required, otherwise it is forbidden. `nameCheck` overrides the name rule.
 */
export function checkMetadata(
  v: unknown,
  c: Checker,
  namespaced: boolean,
  nameCheck: (name: string) => string | undefined = nameProblem,
): ObjectMeta | undefined {
  const path = "metadata";
  if (!isPlainObject(v)) {
    c.error(path, `must be an object, got ${describe(v)}`);
    return undefined;
  }
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) if (!(k in META_FIELDS)) c.error(childPath(path, k), "unknown field");
  for (const [k, f] of Object.entries(META_FIELDS)) {
    const raw = v[k];
    if (raw === undefined || raw === null) continue;
    if (k === "namespace" && raw === "") continue;
    const r = f(raw, childPath(path, k), c);
    if (r !== undefined) out[k] = r;
  }
  const name = typeof out.name === "string" ? out.name : "";
  const np = nameCheck(name);
  if (np && !(v.name !== undefined && v.name !== null && typeof v.name !== "string")) c.error("metadata.name", np);
  if (namespaced && out.namespace === undefined && !c.errors.some((e) => e.path === "metadata.namespace")) {
    c.error("metadata.namespace", "is required for this kind");
  }
  if (!namespaced && out.namespace !== undefined) c.error("metadata.namespace", "must not be set: this kind is not namespaced");
  const { name: _n, namespace, ...rest } = out;
  return { name, ...(namespace !== undefined ? { namespace } : {}), ...rest } as ObjectMeta;
}
