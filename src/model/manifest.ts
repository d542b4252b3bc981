/**
 * Manifests in and out, as calicoctl reads and prints them: YAML (one or many documents
 * separated by `---`), a JSON object or array, and `kind: List` / `kind: <Kind>List` with
 * `items`. Parsing is all-or-nothing: every document is validated and, if any is bad, one error
 * naming the source, the 1-based document index and each field path is thrown before anything
 * is returned. Output: one object for one resource, a List for several.
 * Pure: no I/O (text in, text out); uses the `yaml` package.
 */
import { LineCounter, parseAllDocuments, stringify } from "yaml";
import { Checker, isPlainObject } from "./check.js";
import { ManifestParseError, ValidationError, type FieldError } from "./errors.js";
import { checkResource, isKnownKind } from "./validate.js";
import { jsonProblem } from "./json-check.js";
import { API_VERSION, type Resource } from "./resource.js";
import { KINDS } from "./keys.js";

export interface ParseOptions {
  /** Namespace given to namespaced resources that have none (calicoctl uses "default" or -n). */
  defaultNamespace?: string;
}

interface Problem {
  document: number;
  errors: FieldError[];
  kind?: string | undefined;
  name?: string | undefined;
  namespace?: string | undefined;
}

function identify(item: unknown): { kind?: string; name?: string; namespace?: string } {
  if (!isPlainObject(item)) return {};
  const meta = isPlainObject(item.metadata) ? item.metadata : {};
  return {
    ...(typeof item.kind === "string" ? { kind: item.kind } : {}),
    ...(typeof meta.name === "string" && meta.name ? { name: meta.name } : {}),
    ...(typeof meta.namespace === "string" && meta.namespace && typeof item.kind === "string" && KINDS[item.kind]?.namespaced
      ? { namespace: meta.namespace }
      : {}),
  };
}

/** Parses and validates every resource in `text`; `source` names it in errors (a path or "-"). */
export function parseManifests(text: string, source?: string, opts: ParseOptions = {}): Resource[] {
  return parseSourcedManifests(text, source, opts).map((s) => s.resource);
}

/** parseManifests, also giving the document (from 1) each resource came from. */
export function parseSourcedManifests(text: string, source?: string, opts: ParseOptions = {}): { resource: Resource; document: number }[] {
  const lines = new LineCounter();
  // JSON is checked as JSON (the YAML parser would read `{"cidr": }` as a null cidr)
  const start = /^\s*/.exec(text)![0].length;
  if (text[start] === "{" || text[start] === "[") {
    const problem = jsonProblem(text);
    if (problem) {
      const before = text.slice(0, problem.offset);
      const line = before.split("\n").length;
      const col = problem.offset - before.lastIndexOf("\n");
      throw new ManifestParseError(`line ${line}, column ${col}: invalid JSON: ${problem.message}`, { source, document: 1 }, { line, column: col });
    }
  }
  const docs = parseAllDocuments(text, { prettyErrors: false, lineCounter: lines });
  const values: unknown[] = [];
  const list = Array.isArray(docs) ? docs : [docs];
  list.forEach((doc, i) => {
    const err = doc.errors[0];
    if (err) {
      // line and column from the start of the input (1-based); the message is the parser's first
      // line, cut short: it never echoes a long stretch of the input back
      const pos = err.linePos?.[0] ?? (err.pos?.[0] !== undefined ? lines.linePos(err.pos[0]) : undefined);
      const msg = err.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "");
      throw new ManifestParseError(
        `${pos ? `line ${pos.line}, column ${pos.col}: ` : ""}${msg.length > 160 ? `${msg.slice(0, 157)}...` : msg}`,
        { source, document: i + 1 },
        pos ? { line: pos.line, column: pos.col } : {},
      );
    }
    values.push(doc.toJS({ maxAliasCount: 100 }));
  });
  const out: { resource: Resource; document: number }[] = [];
  const problems: Problem[] = [];
  values.forEach((value, i) => {
    const document = i + 1;
    if (value === null || value === undefined) return; // an empty document ("---" at the end)
    const items = expand(value);
    const errors: FieldError[] = [];
    let what: { kind?: string; name?: string; namespace?: string } | undefined;
    for (const { path, item } of items) {
      const c = new Checker();
      const withNs = withNamespace(item, opts.defaultNamespace);
      const r = checkResource(withNs, c);
      for (const e of c.errors) errors.push({ path: joinPath(path, e.path), message: e.message });
      if (!c.errors.length && r) out.push({ resource: r, document });
      else what ??= items.length === 1 ? identify(withNs) : {};
    }
    if (errors.length) problems.push({ document, errors, ...what });
  });
  if (problems.length) {
    const first = problems[0]!;
    if (problems.length === 1)
      throw new ValidationError(first.errors, { source, document: first.document, kind: first.kind, name: first.name, namespace: first.namespace });
    const all = problems.flatMap((p) => p.errors.map((e) => ({ path: `document ${p.document}: ${e.path}`, message: e.message })));
    const err = new ValidationError(all, { source });
    (err.details as Record<string, unknown>).documents = problems;
    throw err;
  }
  return out;
}

function joinPath(prefix: string, path: string): string {
  if (!prefix) return path;
  if (!path) return prefix;
  return path.startsWith("[") ? `${prefix}${path}` : `${prefix}.${path}`;
}

/** One document → the resources in it, with the path prefix of each. */
function expand(value: unknown): { path: string; item: unknown }[] {
  if (Array.isArray(value)) return value.map((item, i) => ({ path: `[${i}]`, item }));
  if (isPlainObject(value) && typeof value.kind === "string" && value.kind.endsWith("List") && !isKnownKind(value.kind)) {
    const itemKind = value.kind === "List" ? undefined : value.kind.slice(0, -4);
    const items = value.items;
    if (items === undefined || items === null) return [];
    if (!Array.isArray(items)) return [{ path: "items", item: items }];
    return items.map((item, i) => ({
      path: `items[${i}]`,
      // Items of a typed list (IPPoolList) may leave out their kind and apiVersion.
      item: isPlainObject(item) && itemKind && KINDS[itemKind] ? { apiVersion: value.apiVersion, kind: itemKind, ...item } : item,
    }));
  }
  return [{ path: "", item: value }];
}

function withNamespace(item: unknown, ns: string | undefined): unknown {
  if (!ns || !isPlainObject(item) || typeof item.kind !== "string" || !KINDS[item.kind]?.namespaced) return item;
  const meta = isPlainObject(item.metadata) ? item.metadata : {};
  if (meta.namespace) return item;
  return { ...item, metadata: { ...meta, namespace: ns } };
}

export interface PrintOptions {
  /** Print a List even for one resource (calicoctl does for `get KIND` without a name). */
  list?: boolean;
}

/** The object printed for `resources`: the resource itself when one, else a List. */
export function toPrintable(resources: Resource | Resource[], opts: PrintOptions = {}): unknown {
  const rs = Array.isArray(resources) ? resources : [resources];
  if (!Array.isArray(resources) || (rs.length === 1 && !opts.list)) return ordered(rs[0]!);
  const kinds = new Set(rs.map((r) => r.kind));
  const kind = kinds.size === 1 ? `${[...kinds][0]}List` : "List";
  return { apiVersion: API_VERSION, kind, items: rs.map(ordered), metadata: {} };
}

export function toYaml(resources: Resource | Resource[], opts: PrintOptions = {}): string {
  return stringify(toPrintable(resources, opts), { lineWidth: 0 });
}

export function toJson(resources: Resource | Resource[], opts: PrintOptions = {}): string {
  return `${JSON.stringify(toPrintable(resources, opts), null, 2)}\n`;
}

/** apiVersion, kind, metadata, spec, status — the order calicoctl prints. */
function ordered(r: Resource): Resource {
  const o: Resource = { apiVersion: r.apiVersion, kind: r.kind, metadata: r.metadata, spec: r.spec };
  if (r.status !== undefined) o.status = r.status;
  return o;
}
