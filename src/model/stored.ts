/**
 * A resource as the datastore holds it: JSON text under its key (keys.ts). The agent decodes each
 * datastore update once, here, and hands the object to both of its pipelines (the host state and
 * the policy graph, src/calc). Text that is not a JSON object counts as absent, as Calico's syncer
 * drops a value it cannot unmarshal. Pure.
 */

/** A decoded datastore value: the resource (or IPAM object) as a plain JSON object. */
export type StoredObject = Record<string, unknown>;

/** The object a stored value holds; undefined for a deletion or for text that is not a JSON object. */
export function decodeStored(value: string | StoredObject | undefined): StoredObject | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string") return value;
  try {
    const v = JSON.parse(value) as unknown;
    return v && typeof v === "object" && !Array.isArray(v) ? (v as StoredObject) : undefined;
  } catch {
    return undefined;
  }
}
