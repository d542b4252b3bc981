/**
 * Rendered → `nft -f` scripts: the full atomic replace of table `inet tabby`, and the minimal
 * delta between two renderings (render.ts renders; this module only writes the text).
 */
import { TABLE, nftString } from "./names.js";
import type { NftSet, Rendered } from "./table.js";

function setBody(s: NftSet, indent: string): string[] {
  const out = [`${indent}type ${s.type}`];
  if (s.interval) out.push(`${indent}flags interval`);
  if (s.comment) out.push(`${indent}comment ${nftString(s.comment)}`);
  return out;
}

/**
 * The full atomic replace: create-if-missing, delete, define. One transaction, so the kernel
 * swaps the old table for the new one with no instant without rules; conntrack entries are
 * not part of the ruleset and survive.
 */
export function fullScript(r: Rendered): string {
  const out = [`table ${TABLE}`, `delete table ${TABLE}`, `table ${TABLE} {`];
  for (const [name, s] of r.sets) {
    out.push(`\tset ${name} {`, ...setBody(s, "\t\t"));
    if (s.elements.size) out.push(`\t\telements = { ${[...s.elements].join(", ")} }`);
    out.push("\t}");
  }
  for (const [name, m] of r.maps) {
    out.push(`\tmap ${name} {`, `\t\ttype ${m.type}`);
    if (m.elements.size) out.push(`\t\telements = { ${[...m.elements].map(([k, v]) => `${k} : ${v}`).join(", ")} }`);
    out.push("\t}");
  }
  for (const [name, c] of r.chains) {
    out.push(`\tchain ${name} {`);
    if (c.hook) out.push(`\t\t${c.hook}`);
    for (const rule of c.rules) out.push(`\t\t${rule}`);
    out.push("\t}");
  }
  out.push("}");
  return out.join("\n") + "\n";
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export interface DeltaStats {
  setElementsAdded: number;
  setElementsRemoved: number;
  chainsRewritten: number;
  chainsAdded: number;
  chainsRemoved: number;
}

/**
 * The minimal script turning `from` into `to`, or undefined when only a full replace will do
 * (a base chain's hook changed). Order inside the one transaction: sets whose members were
 * removed are flushed; new sets and element changes are declared in one `table { set … }`
 * block; new maps; new chains created empty; changed and new chains flushed and refilled; map
 * elements (a map that lost or changed an entry is flushed and declared whole); removed chains
 * flushed then deleted; removed maps and sets deleted. Set membership changes touch no rule.
 * "" when nothing differs.
 *
 * Why declarations rather than `add element` / `delete element`: nft 1.0.6 loads every set's
 * elements into its cache before any `add element` or `delete element` command, which costs
 * about 3 s with 5,000 sets, whereas a set declaration with `elements = { … }`, `flush set` and
 * `flush map` need only the table, chain and set names (0.1–0.3 s). So an element removal is
 * written as flush + re-declare the set whole (cost grows with that set's size, not the
 * table's: 0.5 s for a 33,000-member set), and an addition as a declaration of the added
 * elements. Measured in docs/benchmarks.md ("nftables dataplane").
 */
export function deltaScript(from: Rendered, to: Rendered, stats?: DeltaStats): string | undefined {
  const out: string[] = [];
  const st: DeltaStats = stats ?? { setElementsAdded: 0, setElementsRemoved: 0, chainsRewritten: 0, chainsAdded: 0, chainsRemoved: 0 };
  const setBlock: string[] = [];
  for (const [name, s] of to.sets) {
    const old = from.sets.get(name);
    if (old === s) continue;
    if (old && (old.type !== s.type || old.interval !== s.interval)) return undefined;
    let removed = 0;
    if (old) for (const e of old.elements) if (!s.elements.has(e)) removed++;
    const added = old ? [...s.elements].filter((e) => !old.elements.has(e)) : [...s.elements];
    st.setElementsAdded += added.length;
    st.setElementsRemoved += removed;
    if (old && !removed && !added.length) continue;
    if (removed) out.push(`flush set ${TABLE} ${name}`);
    const elements = removed ? [...s.elements] : added;
    setBlock.push(`\tset ${name} {`, ...setBody(s, "\t\t"));
    if (elements.length) setBlock.push(`\t\telements = { ${elements.join(", ")} }`);
    setBlock.push("\t}");
  }
  if (setBlock.length) out.push(`table ${TABLE} {`, ...setBlock, "}");
  for (const [name, m] of to.maps) if (!from.maps.has(name)) out.push(`add map ${TABLE} ${name} { type ${m.type}; }`);
  const refill: string[] = [];
  for (const [name, c] of to.chains) {
    const old = from.chains.get(name);
    if (old === c) continue;
    if (old && old.hook !== c.hook) return undefined;
    if (!old) {
      out.push(c.hook ? `add chain ${TABLE} ${name} { ${c.hook} }` : `add chain ${TABLE} ${name}`);
      st.chainsAdded++;
      refill.push(name);
    } else if (!sameList(old.rules, c.rules)) {
      out.push(`flush chain ${TABLE} ${name}`);
      st.chainsRewritten++;
      refill.push(name);
    }
  }
  for (const name of refill) for (const rule of to.chains.get(name)!.rules) out.push(`add rule ${TABLE} ${name} ${rule}`);
  const mapBlock: string[] = [];
  for (const [name, m] of to.maps) {
    const old = from.maps.get(name);
    let changed = false;
    if (old) for (const [k, v] of old.elements) if (m.elements.get(k) !== v) changed = true;
    const added = [...m.elements].filter(([k, v]) => old?.elements.get(k) !== v);
    if (!changed && !added.length) continue;
    if (changed) out.push(`flush map ${TABLE} ${name}`);
    const elements = changed ? [...m.elements] : added;
    mapBlock.push(`\tmap ${name} {`, `\t\ttype ${m.type}`);
    if (elements.length) mapBlock.push(`\t\telements = { ${elements.map(([k, v]) => `${k} : ${v}`).join(", ")} }`);
    mapBlock.push("\t}");
  }
  if (mapBlock.length) out.push(`table ${TABLE} {`, ...mapBlock, "}");
  for (const [name, m] of from.maps) if (!to.maps.has(name) && m.elements.size) out.push(`flush map ${TABLE} ${name}`);
  const gone = [...from.chains.keys()].filter((n) => !to.chains.has(n));
  for (const name of gone) out.push(`flush chain ${TABLE} ${name}`);
  for (const name of gone) out.push(`delete chain ${TABLE} ${name}`);
  st.chainsRemoved += gone.length;
  for (const name of from.maps.keys()) if (!to.maps.has(name)) out.push(`delete map ${TABLE} ${name}`);
  for (const name of from.sets.keys()) if (!to.sets.has(name)) out.push(`delete set ${TABLE} ${name}`);
  return out.length ? out.join("\n") + "\n" : "";
}
