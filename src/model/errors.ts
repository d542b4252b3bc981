/**
 * Errors of the resource model. A ValidationError carries every problem found, each with a
 * JSON-ish field path (`spec.ipNetworks[1]`) in the spirit of libcalico-go's ErroredField list.
 * Pure: no I/O.
 */
import { TabbyError } from "../errors.js";

export interface FieldError {
  /** Field path, e.g. `spec.blockSize`, `metadata.labels["app"]`, `spec.ipNetworks[1]`. */
  path: string;
  message: string;
}

/** Where a resource came from, for messages: a file (or "-") and the 1-based document index. */
export interface Origin {
  source?: string | undefined;
  document?: number | undefined;
}

function originPrefix(o: Origin): string {
  const parts: string[] = [];
  if (o.source !== undefined) parts.push(o.source);
  if (o.document !== undefined) parts.push(`document ${o.document}`);
  return parts.length ? `${parts.join(": ")}: ` : "";
}

/** One or more fields of a resource are invalid (code MODEL_INVALID). */
export class ValidationError extends TabbyError {
  declare readonly details: { errors: FieldError[]; kind?: string; name?: string; namespace?: string; source?: string; document?: number };
  readonly errors: FieldError[];

  constructor(errors: FieldError[], what: { kind?: string | undefined; name?: string | undefined; namespace?: string | undefined } & Origin = {}) {
    const id = what.name ? `${what.namespace ? `${what.namespace}/` : ""}${what.name}` : "";
    const subject = what.kind ? `${what.kind}${id ? ` "${id}"` : ""}` : "resource";
    const lines = errors.map((e) => (e.path ? `${e.path}: ${e.message}` : e.message));
    super("MODEL_INVALID", `${originPrefix(what)}invalid ${subject}: ${lines.join("; ")}`, {
      errors,
      ...(what.kind !== undefined ? { kind: what.kind } : {}),
      ...(what.name !== undefined ? { name: what.name } : {}),
      ...(what.namespace !== undefined ? { namespace: what.namespace } : {}),
      ...(what.source !== undefined ? { source: what.source } : {}),
      ...(what.document !== undefined ? { document: what.document } : {}),
    });
    this.errors = errors;
  }
}

/** A manifest is not well-formed YAML/JSON (code MODEL_PARSE). */
export class ManifestParseError extends TabbyError {
  constructor(message: string, origin: Origin, details: Record<string, unknown> = {}) {
    super("MODEL_PARSE", `${originPrefix(origin)}${message}`, { ...origin, ...details });
  }
}
