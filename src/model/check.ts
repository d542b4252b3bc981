/**
 * A small schema walker for Calico's strict decoding plus validation: every field of a spec is
 * declared, unknown fields are errors (like the Kubernetes strict decoder calicoctl uses), and
 * every problem is collected with its path rather than stopping at the first. Written by hand
 * because the paths and messages must be Calico-shaped and the schemas are small.
 * Pure: no I/O.
 */
import { tryParseIP, tryParsePrefix, type IP, type Prefix } from "../net/index.js";
import type { FieldError } from "./errors.js";
import { parseSelector, SelectorError } from "../selector/index.js";

export class Checker {
  readonly errors: FieldError[] = [];
  /** In "stored" mode: fields set to a value tabby does not honour (see `unsupported`). */
  readonly unhonoured: FieldError[] = [];
  /**
   * "write" (default): a value tabby cannot honour is an error, so a manifest setting it is refused.
   * "stored": reading what is already in the datastore (an agent, an older writer): such values are
   * collected in `unhonoured` instead, and the reader decides what failing closed means for them.
   */
  constructor(readonly mode: "write" | "stored" = "write") {}
  error(path: string, message: string): void {
    this.errors.push({ path, message });
  }
  /** A well-formed value tabby does not honour: refused when writing, noted when reading. */
  unsupported(path: string, message: string): void {
    if (this.mode === "stored") this.unhonoured.push({ path, message });
    else this.errors.push({ path, message });
  }
}

/** Checks one value at `path`; returns the (normalised) value to keep, or undefined on error. */
export type Field<T = unknown> = (v: unknown, path: string, c: Checker) => T | undefined;

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function describe(v: unknown): string {
  if (v === undefined) return "nothing";
  if (Array.isArray(v)) return "a list";
  if (isPlainObject(v)) return "an object";
  const s = JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
export function childPath(path: string, key: string): string {
  const k = IDENT.test(key) ? key : JSON.stringify(key);
  if (!path) return IDENT.test(key) ? key : `[${k}]`;
  return IDENT.test(key) ? `${path}.${key}` : `${path}[${k}]`;
}

/**
 * An object with exactly these fields (others are errors). `null` counts as absent, as in
 * Kubernetes' decoding of omitempty fields. Output keys follow the schema's order.
 */
export function object<T>(fields: { [K in keyof T]-?: Field<T[K]> }): Field<T> {
  return (v, path, c) => {
    if (!isPlainObject(v)) {
      c.error(path, `must be an object, got ${describe(v)}`);
      return undefined;
    }
    for (const k of Object.keys(v)) {
      if (!Object.hasOwn(fields, k)) c.error(childPath(path, k), "unknown field");
    }
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(fields) as (keyof T & string)[]) {
      const raw = v[k];
      if (raw === undefined || raw === null) continue;
      const r = (fields[k] as Field)(raw, childPath(path, k), c);
      if (r !== undefined) out[k] = r;
    }
    return out as T;
  };
}

/** A copy of `o` with its keys in `order` (others after), so defaulted fields print in schema order. */
export function reorder<T extends object>(o: T, order: readonly string[]): T {
  const out: Record<string, unknown> = {};
  const src = o as Record<string, unknown>;
  for (const k of order) if (k in src) out[k] = src[k];
  for (const k of Object.keys(src)) if (!(k in out)) out[k] = src[k];
  return out as T;
}

export const str: Field<string> = (v, path, c) => {
  if (typeof v !== "string") {
    c.error(path, `must be a string, got ${describe(v)}`);
    return undefined;
  }
  return v;
};

/** A string matching `re`; `what` says what was expected. */
export function matching(re: RegExp, what: string): Field<string> {
  return (v, path, c) => {
    const s = str(v, path, c);
    if (s === undefined) return undefined;
    if (!re.test(s)) {
      c.error(path, `must be ${what}, got ${describe(s)}`);
      return undefined;
    }
    return s;
  };
}

export function oneOf<T extends string>(values: readonly T[]): Field<T> {
  return (v, path, c) => {
    const s = str(v, path, c);
    if (s === undefined) return undefined;
    if (!(values as readonly string[]).includes(s)) {
      c.error(path, `must be one of ${values.join(", ")}, got ${describe(s)}`);
      return undefined;
    }
    return s as T;
  };
}

export const bool: Field<boolean> = (v, path, c) => {
  if (typeof v !== "boolean") {
    c.error(path, `must be true or false, got ${describe(v)}`);
    return undefined;
  }
  return v;
};

export function int(min: number, max: number): Field<number> {
  return (v, path, c) => {
    if (typeof v !== "number" || !Number.isInteger(v)) {
      c.error(path, `must be an integer, got ${describe(v)}`);
      return undefined;
    }
    if (v < min || v > max) {
      c.error(path, `must be between ${min} and ${max}, got ${v}`);
      return undefined;
    }
    return v;
  };
}

export function arrayOf<T>(item: Field<T>): Field<T[]> {
  return (v, path, c) => {
    if (!Array.isArray(v)) {
      c.error(path, `must be a list, got ${describe(v)}`);
      return undefined;
    }
    const out: T[] = [];
    v.forEach((x, i) => {
      const r = item(x, `${path}[${i}]`, c);
      if (r !== undefined) out.push(r);
    });
    return out;
  };
}

/** A map of string → value with keys checked by `key` (returns an error message or undefined). */
export function mapOf<T>(value: Field<T>, key?: (k: string) => string | undefined): Field<Record<string, T>> {
  return (v, path, c) => {
    if (!isPlainObject(v)) {
      c.error(path, `must be a map, got ${describe(v)}`);
      return undefined;
    }
    const out: Record<string, T> = {};
    for (const [k, x] of Object.entries(v)) {
      const p = `${path}[${JSON.stringify(k)}]`;
      const msg = key?.(k);
      if (msg) c.error(p, msg);
      const r = value(x, p, c);
      if (r !== undefined) out[k] = r;
    }
    return out;
  };
}

/** Any JSON value, kept as is (for fields whose inner structure tabby does not interpret). */
export const anything: Field<unknown> = (v) => v;

// ---- addresses ----

export function ipField(family?: 4 | 6): Field<string> {
  return (v, path, c) => {
    const s = str(v, path, c);
    if (s === undefined) return undefined;
    const ip = tryParseIP(s);
    if (!ip) return void c.error(path, `must be an ${family ? `IPv${family}` : "IP"} address, got ${describe(s)}`);
    if (family && ip.family !== family) return void c.error(path, `must be an IPv${family} address, got ${describe(s)}`);
    return s;
  };
}

/** "ip" or "ip/len" (host bits allowed unless `strict`), like Calico's cidr/net validators. */
export function cidrField(opts: { family?: 4 | 6; strict?: boolean } = {}): Field<string> {
  return (v, path, c) => {
    const s = str(v, path, c);
    if (s === undefined) return undefined;
    const p = tryParsePrefix(s);
    if (!p) return void c.error(path, `must be an IP address or CIDR, got ${describe(s)}`);
    if (opts.family && p.family !== opts.family) return void c.error(path, `must be an IPv${opts.family} address or CIDR, got ${describe(s)}`);
    if (opts.strict && !p.isNetwork())
      return void c.error(path, `must be a network address with no host bits set (did you mean ${p.network().toString()}?), got ${describe(s)}`);
    return s;
  };
}

export function parsedIP(s: string): IP | undefined {
  return tryParseIP(s);
}
export function parsedPrefix(s: string): Prefix | undefined {
  return tryParsePrefix(s);
}

/**
 * BGP AS number as Calico's numorstring.ASNumber: an integer 0–4294967295, or "N" / "N.M"
 * (asdot, RFC 5396) as a string. Normalised to a number.
 */
export const asNumber: Field<number> = (v, path, c) => {
  let n: number | undefined;
  if (typeof v === "number" && Number.isInteger(v)) n = v;
  else if (typeof v === "string") {
    const m = /^(\d+)(?:\.(\d+))?$/.exec(v);
    if (m) {
      if (m[2] === undefined) n = Number(m[1]);
      else if (Number(m[1]) <= 0xffff && Number(m[2]) <= 0xffff) n = Number(m[1]) * 65536 + Number(m[2]);
    }
  }
  if (n === undefined || n < 0 || n > 0xffffffff) {
    c.error(path, `must be an AS number (0-4294967295 or asdot "N.M"), got ${describe(v)}`);
    return undefined;
  }
  return n;
};

/** A Go duration such as "120s", "1m30s", "500ms" (metav1.Duration). */
export const duration = matching(/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$|^0$/, 'a duration such as "120s" or "1m30s"');

/**
 * Label selector text, parsed with Calico's selector grammar (src/selector); the error names the
 * position of the problem. The text is kept as written (not canonicalised).
 */
export const selectorField: Field<string> = (v, path, c) => {
  const s = str(v, path, c);
  if (s === undefined) return undefined;
  try {
    parseSelector(s);
  } catch (err) {
    if (err instanceof SelectorError) return void c.error(path, `must be a valid selector: ${err.message}, got ${describe(s)}`);
    throw err;
  }
  return s;
};
