/**
 * Packs outgoing routes into as few UPDATE messages as fit in 4096 bytes: prefixes sharing the
 * same attributes and next hop travel together (BIRD's "buckets"). IPv4 goes in the classic NLRI
 * and withdrawn fields, IPv6 in MP_REACH_NLRI / MP_UNREACH_NLRI (RFC 4760). Pure.
 */
import type { Prefix } from "../net/prefix.js";
import { encodeAttributes, type CodecOptions, type PathAttributes } from "./wire/attributes.js";
import { HEADER_LENGTH, MAX_MESSAGE_LENGTH, type AddressFamily } from "./wire/constants.js";
import { nlriLength, type Nlri } from "./wire/nlri.js";
import type { UpdateMessage } from "./wire/update.js";
import type { OutRoute } from "./rib/export.js";
import type { PrefixKey } from "./rib/types.js";
import { hex } from "./wire/bytes.js";

/** A stable identity for an out-route's attributes (for grouping and for Adj-RIB-Out diffs). */
export function outRouteKey(r: OutRoute, ctx: CodecOptions): string {
  return `${r.nextHop}|${hex(encodeAttributes(r.attrs, ctx))}`;
}

function chunk(list: Nlri[], base: number, addPath: boolean): Nlri[][] {
  const out: Nlri[][] = [];
  let cur: Nlri[] = [];
  let size = base;
  for (const n of list) {
    const l = nlriLength(n, addPath);
    if (cur.length > 0 && size + l > MAX_MESSAGE_LENGTH) {
      out.push(cur);
      cur = [];
      size = base;
    }
    cur.push(n);
    size += l;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

export interface Announcement {
  prefix: Prefix;
  /** ADD-PATH identifier (ignored when the session does not send path ids). */
  pathId: number;
  out: OutRoute;
  /** outRouteKey(out), when the caller already has it. */
  key?: string;
}

export function packAnnouncements(family: AddressFamily, routes: Announcement[], ctx: CodecOptions): UpdateMessage[] {
  const groups = new Map<string, { out: OutRoute; nlri: Nlri[] }>();
  for (const r of routes) {
    const k = r.key ?? outRouteKey(r.out, ctx);
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { out: r.out, nlri: [] }));
    g.nlri.push({ prefix: r.prefix, pathId: r.pathId });
  }
  const msgs: UpdateMessage[] = [];
  const addPath = ctx.addPath[family];
  for (const g of groups.values()) {
    if (family === "ipv4") {
      const attrs: PathAttributes = { ...g.out.attrs, nextHop: g.out.nextHop };
      const base = HEADER_LENGTH + 4 + encodeAttributes(attrs, ctx).length;
      for (const part of chunk(g.nlri, base, addPath)) msgs.push({ type: "update", withdrawn: [], attributes: attrs, nlri: part });
    } else {
      const empty: PathAttributes = { ...g.out.attrs, mpReach: { family, nextHop: g.out.nextHop, nlri: [] } };
      // +1: the MP_REACH length may need the extended (2-byte) form once filled
      const base = HEADER_LENGTH + 4 + encodeAttributes(empty, ctx).length + 1;
      for (const part of chunk(g.nlri, base, addPath)) {
        msgs.push({ type: "update", withdrawn: [], attributes: { ...g.out.attrs, mpReach: { family, nextHop: g.out.nextHop, nlri: part } }, nlri: [] });
      }
    }
  }
  return msgs;
}

export function packWithdrawals(family: AddressFamily, nlri: Nlri[], ctx: CodecOptions): UpdateMessage[] {
  const addPath = ctx.addPath[family];
  if (family === "ipv4") {
    return chunk(nlri, HEADER_LENGTH + 4, addPath).map((part) => ({ type: "update" as const, withdrawn: part, attributes: {}, nlri: [] }));
  }
  return chunk(nlri, HEADER_LENGTH + 4 + 4 + 3, addPath).map((part) => ({
    type: "update" as const,
    withdrawn: [],
    attributes: { mpUnreach: { family, withdrawn: part } },
    nlri: [],
  }));
}

/**
 * IPv4 UPDATE frames written straight from prefix keys (rib/types.ts), with the attributes
 * encoded once: announcements when `attrs` is given (it must include NEXT_HOP), withdrawals when
 * it is undefined. The same greedy split and the same bytes as `packAnnouncements` /
 * `packWithdrawals` then `encodeMessage`, without a Prefix or message object per route (an
 * update group's dump of a large table is written this way).
 */
export function ipv4Frames(attrs: Uint8Array | undefined, keys: readonly PrefixKey[], ids: readonly number[] | undefined): Uint8Array[] {
  const out: Uint8Array[] = [];
  const base = HEADER_LENGTH + 4 + (attrs ? attrs.length : 0);
  const per = ids ? 4 : 0;
  let i = 0;
  while (i < keys.length) {
    // how many fit in one message (at least one)
    let size = base;
    let j = i;
    while (j < keys.length) {
      const l = per + 1 + ((((keys[j] as number) % 64) + 7) >> 3);
      if (j > i && size + l > MAX_MESSAGE_LENGTH) break;
      size += l;
      j++;
    }
    const f = new Uint8Array(size);
    f.fill(0xff, 0, 16);
    f[16] = size >> 8;
    f[17] = size & 0xff;
    f[18] = 2; // UPDATE
    let at = HEADER_LENGTH;
    const nlriLen = size - base;
    if (attrs) {
      f[at++] = 0;
      f[at++] = 0;
      f[at++] = attrs.length >> 8;
      f[at++] = attrs.length & 0xff;
      f.set(attrs, at);
      at += attrs.length;
    } else {
      f[at++] = nlriLen >> 8;
      f[at++] = nlriLen & 0xff;
    }
    for (let k = i; k < j; k++) {
      if (ids) {
        const id = ids[k]!;
        f[at++] = id >>> 24;
        f[at++] = (id >>> 16) & 0xff;
        f[at++] = (id >>> 8) & 0xff;
        f[at++] = id & 0xff;
      }
      const key = keys[k] as number;
      const len = key % 64;
      const a = (key - len) / 64;
      f[at++] = len;
      for (let b = 0, n = (len + 7) >> 3; b < n; b++) f[at++] = (a >>> (24 - 8 * b)) & 0xff;
    }
    // withdrawals: the (empty) attribute length closes the message
    if (!attrs) {
      f[at++] = 0;
      f[at++] = 0;
    }
    out.push(f);
    i = j;
  }
  return out;
}
