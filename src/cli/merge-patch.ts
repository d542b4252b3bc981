/**
 * JSON Merge Patch (RFC 7386) — the patch format `calicoctl patch` takes. Written by hand: the
 * algorithm is the ten lines of RFC 7386 section 2, smaller than a dependency. Pure: no I/O.
 */

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Applies `patch` to `target` (neither is modified) and returns the result. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return structuredClone(patch);
  const out: Record<string, unknown> = isObject(target) ? structuredClone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}
