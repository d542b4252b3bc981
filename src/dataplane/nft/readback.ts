/**
 * Reading the table back: `nft -j list table inet tabby` (libnftables JSON, schema 1) reduced
 * to what drift detection compares — set and map elements in the renderer's text form, and
 * the rule count of every chain — and the comparison with a rendering. A rule, chain, set,
 * map or element added or deleted by hand shows up; a rule edited in place keeping the count
 * does not (the JSON expression trees are not re-rendered to text). Pure.
 */
import { TabbyError } from "../../errors.js";
import type { Rendered } from "./render.js";

export interface ActualTable {
  sets: Map<string, Set<string>>;
  maps: Map<string, Map<string, string>>;
  /** Chain name → number of rules. */
  chains: Map<string, number>;
}

const PROTO: Record<string, string> = { tcp: "6", udp: "17", sctp: "132", icmp: "1", "ipv6-icmp": "58" };

/** One JSON set element (or key) as text: "10.0.0.0/24", "tab1 . 10.0.0.5", "10.0.0.1 . 6 . 80". */
export function elementText(v: unknown): string {
  if (typeof v === "string") return PROTO[v] ?? v;
  if (typeof v === "number") return String(v);
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    if ("elem" in o) return elementText((o.elem as Record<string, unknown>).val);
    if ("prefix" in o) {
      const p = o.prefix as { addr: string; len: number };
      return `${p.addr}/${p.len}`;
    }
    if ("range" in o) {
      const [a, b] = o.range as [unknown, unknown];
      return `${elementText(a)}-${elementText(b)}`;
    }
    if ("concat" in o) return (o.concat as unknown[]).map(elementText).join(" . ");
  }
  return JSON.stringify(v);
}

function verdictText(v: unknown): string {
  if (v && typeof v === "object") {
    const [k, body] = Object.entries(v as Record<string, unknown>)[0] ?? ["?", null];
    const target = body && typeof body === "object" ? (body as { target?: string }).target : undefined;
    return target ? `${k} ${target}` : k;
  }
  return String(v);
}

/** Parses the JSON listing; an empty input (table absent) gives undefined. */
export function parseTableJson(json: string): ActualTable | undefined {
  const text = json.trim();
  if (!text) return undefined;
  let doc: { nftables?: Record<string, unknown>[] };
  try {
    doc = JSON.parse(text) as { nftables?: Record<string, unknown>[] };
  } catch (e) {
    throw new TabbyError("DP_BAD_OUTPUT", "cannot parse nft -j output", { output: text.slice(0, 200) }, { cause: e });
  }
  const t: ActualTable = { sets: new Map(), maps: new Map(), chains: new Map() };
  let sawTable = false;
  for (const item of doc.nftables ?? []) {
    if ("table" in item) sawTable = true;
    if ("set" in item) {
      const s = item.set as { name: string; elem?: unknown[] };
      t.sets.set(s.name, new Set((s.elem ?? []).map(elementText)));
    } else if ("map" in item) {
      const m = item.map as { name: string; elem?: unknown[] };
      const els = new Map<string, string>();
      for (const e of m.elem ?? []) {
        const [k, v] = e as [unknown, unknown];
        els.set(elementText(k), verdictText(v));
      }
      t.maps.set(m.name, els);
    } else if ("chain" in item) {
      const c = item.chain as { name: string };
      if (!t.chains.has(c.name)) t.chains.set(c.name, 0);
    } else if ("rule" in item) {
      const r = item.rule as { chain: string };
      t.chains.set(r.chain, (t.chains.get(r.chain) ?? 0) + 1);
    }
  }
  return sawTable ? t : undefined;
}

const unquote = (s: string) => s.replaceAll('"', "");

/** The differences between what was rendered and what the kernel holds ([] when in sync). */
export function diffActual(want: Rendered, have: ActualTable | undefined): string[] {
  if (!have) return ["table inet tabby is missing"];
  const out: string[] = [];
  for (const [name, s] of want.sets) {
    const h = have.sets.get(name);
    if (!h) {
      out.push(`set ${name} missing`);
      continue;
    }
    const w = new Set([...s.elements].map(unquote));
    for (const e of w) if (!h.has(e)) out.push(`set ${name} lacks ${e}`);
    for (const e of h) if (!w.has(e)) out.push(`set ${name} has extra ${e}`);
  }
  for (const name of have.sets.keys()) if (!want.sets.has(name)) out.push(`extra set ${name}`);
  for (const [name, m] of want.maps) {
    const h = have.maps.get(name);
    if (!h) {
      out.push(`map ${name} missing`);
      continue;
    }
    const w = new Map([...m.elements].map(([k, v]) => [unquote(k), v]));
    for (const [k, v] of w) if (h.get(k) !== v) out.push(`map ${name} ${k}: want ${v}, have ${h.get(k) ?? "nothing"}`);
    for (const k of h.keys()) if (!w.has(k)) out.push(`map ${name} has extra ${k}`);
  }
  for (const name of have.maps.keys()) if (!want.maps.has(name)) out.push(`extra map ${name}`);
  for (const [name, c] of want.chains) {
    const n = have.chains.get(name);
    if (n === undefined) out.push(`chain ${name} missing`);
    else if (n !== c.rules.length) out.push(`chain ${name} has ${n} rules, want ${c.rules.length}`);
  }
  for (const name of have.chains.keys()) if (!want.chains.has(name)) out.push(`extra chain ${name}`);
  return out;
}
