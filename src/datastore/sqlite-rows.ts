/**
 * The SQLite store's rows (sqlite.ts): the kv and history row shapes, their conversion to KVs and
 * watch events, and the key-range bound a prefix listing uses.
 */
import type { KV, WatchEvent } from "./store.js";

export interface KvRow {
  key: string;
  value: string;
  revision: number;
  create_revision: number;
  lease: number | null;
}

export interface HistoryRow {
  revision: number;
  key: string;
  type: "put" | "delete";
  value: string | null;
  create_revision: number | null;
  lease: number | null;
  prev_value: string | null;
  prev_revision: number | null;
  prev_create_revision: number | null;
  prev_lease: number | null;
}

export function toKV(row: KvRow): KV {
  return { key: row.key, value: row.value, revision: row.revision, createRevision: row.create_revision, lease: row.lease ?? undefined };
}

export function toEvent(row: HistoryRow): WatchEvent {
  const prev: KV | undefined =
    row.prev_revision === null
      ? undefined
      : { key: row.key, value: row.prev_value!, revision: row.prev_revision, createRevision: row.prev_create_revision!, lease: row.prev_lease ?? undefined };
  if (row.type === "delete") return { type: "delete", key: row.key, revision: row.revision, prev };
  return {
    type: "put",
    kv: { key: row.key, value: row.value!, revision: row.revision, createRevision: row.create_revision!, lease: row.lease ?? undefined },
    prev,
  };
}

/**
 * The smallest string greater than every string that starts with `prefix` (SQLite compares TEXT as
 * UTF-8 bytes, i.e. by code point): bump the last code point, dropping trailing U+10FFFF; undefined
 * when no bound exists (empty prefix).
 */
export function prefixEnd(prefix: string): string | undefined {
  const cps = [...prefix].map((c) => c.codePointAt(0)!);
  while (cps.length) {
    const last = cps.pop()!;
    if (last < 0x10ffff) {
      let next = last + 1;
      if (next >= 0xd800 && next <= 0xdfff) next = 0xe000; // skip surrogates: not valid scalar values
      return String.fromCodePoint(...cps, next);
    }
  }
  return undefined;
}
