/**
 * A label index with inheritance (felix `labelindex.InheritIndex` plus its
 * `LabelRestrictionIndex`): items (endpoints, network sets) carry their own labels and an ordered
 * list of parents (profiles) whose `labelsToApply` they inherit — the item's own labels win, then
 * the first parent that has the label. Selectors are registered under ids of the caller's choosing;
 * the index reports every (selector, item) match as it starts and stops.
 *
 * To avoid evaluating every selector on every change, each selector is filed under a label it
 * requires (`a == "x"`, `a in {…}`: the label and its values; `has(a)`, `a contains …`: the label),
 * found from its AST; only selectors with no such requirement (`!a`, `a != "x"`, `all()`) are
 * evaluated against every item. Items are indexed by label and value for the reverse lookup when a
 * selector is added.
 *
 * Effective labels are plain objects whose prototype is the shared, merged labels of the item's
 * parent list (one object per distinct parent list, updated in place when a profile changes), so
 * inheritance costs no copy per item.
 * Pure: no I/O.
 */
import { NAMESPACE_LABEL, type Selector, type SelectorNode } from "../../selector/index.js";

export type Labels = Record<string, string>;

export interface LabelIndexCallbacks {
  onMatchStarted(selectorId: string, itemId: string): void;
  onMatchStopped(selectorId: string, itemId: string): void;
}

/** A label the selector needs present: with one of `values`, or any value when `values` is undefined. */
export interface Restriction {
  label: string;
  values?: readonly string[];
}

function score(r: Restriction): number {
  const ns = r.label === NAMESPACE_LABEL ? 2 : 0;
  return r.values ? ns + (r.values.length > 4 ? 1 : 0) : 4 + ns;
}

/** The most selective label the selector requires, or undefined when it requires none. */
export function restrictionOf(node: SelectorNode): Restriction | undefined {
  switch (node.op) {
    case "==":
      return { label: node.label, values: [node.value] };
    case "in":
      return { label: node.label, values: node.values };
    case "has":
    case "contains":
    case "starts with":
    case "ends with":
      return { label: node.label };
    case "&&": {
      let best: Restriction | undefined;
      for (const o of node.operands) {
        const r = restrictionOf(o);
        if (r && (!best || score(r) < score(best))) best = r;
      }
      return best;
    }
    case "||": {
      let label: string | undefined;
      const values = new Set<string>();
      let anyValue = false;
      for (const o of node.operands) {
        const r = restrictionOf(o);
        if (!r || (label !== undefined && r.label !== label)) return undefined;
        label = r.label;
        if (r.values) for (const v of r.values) values.add(v);
        else anyValue = true;
      }
      if (label === undefined) return undefined;
      return anyValue ? { label } : { label, values: [...values] };
    }
    default:
      return undefined;
  }
}

interface ParentState {
  names: string[];
  /** Merged labels of the parents (first wins); prototype null. Mutated in place. */
  labels: Labels;
  items: Set<string>;
}

interface ItemState {
  own: Labels;
  parent: ParentState | undefined;
  /** own labels over parent.labels (prototype chain). */
  eff: Labels;
  matches: Set<string> | undefined;
}

interface SelectorState {
  sel: Selector;
  restriction: Restriction | undefined;
  items: Set<string>;
}

const NO_PARENTS: readonly string[] = [];

function addTo<K, V>(m: Map<K, Set<V>>, k: K, v: V): void {
  let s = m.get(k);
  if (!s) m.set(k, (s = new Set()));
  s.add(v);
}
function removeFrom<K, V>(m: Map<K, Set<V>>, k: K, v: V): void {
  const s = m.get(k);
  if (s && s.delete(v) && s.size === 0) m.delete(k);
}

export class LabelIndex {
  private readonly items = new Map<string, ItemState>();
  private readonly parentStates = new Map<string, ParentState>();
  private readonly parentKeysByProfile = new Map<string, Set<string>>();
  private readonly profileLabels = new Map<string, Labels>();
  /** label → value → items having it. */
  private readonly itemsByLabel = new Map<string, Map<string, Set<string>>>();
  private readonly selectors = new Map<string, SelectorState>();
  /** label → value → selectors requiring it; label → selectors requiring its presence. */
  private readonly selByValue = new Map<string, Map<string, Set<string>>>();
  private readonly selByLabel = new Map<string, Set<string>>();
  private readonly unrestricted = new Set<string>();
  /** Interned label strings (many endpoints share keys and values). */
  private readonly strings = new Map<string, string>();

  constructor(private readonly cb: LabelIndexCallbacks) {}

  // ---------------- items ----------------

  /** Adds or updates an item; undefined labels removes it. */
  updateItem(id: string, own: Labels | undefined, parents: readonly string[] = NO_PARENTS): void {
    const old = this.items.get(id);
    if (own === undefined) {
      if (!old) return;
      this.unindexItem(id, old);
      if (old.matches) for (const s of old.matches) this.stopMatch(s, id, old, false);
      this.detachParent(id, old.parent);
      this.items.delete(id);
      return;
    }
    const interned = Object.create(null) as Labels;
    for (const k in own) interned[this.intern(k)] = this.intern(own[k]!);
    const pkey = parents.join("\u0000");
    if (old) {
      const samePk = old.parent ? old.parent.names.join("\u0000") === pkey : pkey === "";
      if (samePk && sameLabels(old.own, interned)) return;
      this.unindexItem(id, old);
      if (!samePk) {
        this.detachParent(id, old.parent);
        old.parent = this.attachParent(id, parents, pkey);
      }
      old.own = interned;
      old.eff = this.effective(interned, old.parent);
      this.indexItem(id, old);
      this.reevaluate(id, old);
      return;
    }
    const parent = this.attachParent(id, parents, pkey);
    const st: ItemState = { own: interned, parent, eff: this.effective(interned, parent), matches: undefined };
    this.items.set(id, st);
    this.indexItem(id, st);
    this.reevaluate(id, st);
  }

  /** The effective labels of an item (own over inherited), or undefined. */
  labelsOf(id: string): Labels | undefined {
    return this.items.get(id)?.eff;
  }

  /** Selector ids currently matching the item. */
  matchesOf(id: string): ReadonlySet<string> {
    return this.items.get(id)?.matches ?? EMPTY;
  }

  // ---------------- parents (profiles) ----------------

  /** Sets a profile's labelsToApply (undefined: the profile is gone). */
  updateParentLabels(name: string, labels: Labels | undefined): void {
    const old = this.profileLabels.get(name);
    if (labels === undefined ? old === undefined : old !== undefined && sameLabels(old, labels)) return;
    if (labels === undefined) this.profileLabels.delete(name);
    else this.profileLabels.set(name, { ...labels });
    const keys = this.parentKeysByProfile.get(name);
    if (!keys) return;
    for (const k of keys) {
      const ps = this.parentStates.get(k)!;
      for (const id of ps.items) this.unindexItem(id, this.items.get(id)!);
      this.mergeInto(ps);
      for (const id of ps.items) {
        const st = this.items.get(id)!;
        this.indexItem(id, st);
        this.reevaluate(id, st);
      }
    }
  }

  // ---------------- selectors ----------------

  /** Adds or replaces a selector; undefined removes it. */
  updateSelector(id: string, sel: Selector | undefined): void {
    const old = this.selectors.get(id);
    if (old && sel && old.sel.equals(sel)) return;
    if (old) {
      this.unfileSelector(id, old);
      if (!sel) {
        for (const item of [...old.items]) this.stopMatch(id, item, this.items.get(item)!, true);
        this.selectors.delete(id);
        return;
      }
    }
    if (!sel) return;
    const restriction = restrictionOf(sel.ast);
    const st: SelectorState = old ?? { sel, restriction, items: new Set() };
    st.sel = sel;
    st.restriction = restriction;
    this.selectors.set(id, st);
    this.fileSelector(id, st);
    // Candidates: items that have the required label; or every item.
    const now = new Set<string>();
    const consider = (item: string): void => {
      const ist = this.items.get(item)!;
      if (sel.matches(ist.eff)) now.add(item);
    };
    if (restriction) {
      const byValue = this.itemsByLabel.get(restriction.label);
      if (byValue) {
        if (restriction.values) {
          for (const v of restriction.values) for (const item of byValue.get(v) ?? EMPTY) consider(item);
        } else {
          for (const set of byValue.values()) for (const item of set) consider(item);
        }
      }
    } else {
      for (const item of this.items.keys()) consider(item);
    }
    for (const item of [...st.items]) if (!now.has(item)) this.stopMatch(id, item, this.items.get(item)!, true);
    for (const item of now) if (!st.items.has(item)) this.startMatch(id, item, this.items.get(item)!, st);
  }

  /** Items the selector currently matches. */
  itemsMatching(id: string): ReadonlySet<string> {
    return this.selectors.get(id)?.items ?? EMPTY;
  }

  // ---------------- internals ----------------

  private intern(s: string): string {
    const got = this.strings.get(s);
    if (got !== undefined) return got;
    if (this.strings.size < 1_000_000) this.strings.set(s, s);
    return s;
  }

  private effective(own: Labels, parent: ParentState | undefined): Labels {
    const eff = Object.create(parent ? parent.labels : null) as Labels;
    for (const k in own) eff[k] = own[k]!;
    return eff;
  }

  private attachParent(id: string, names: readonly string[], key: string): ParentState | undefined {
    if (names.length === 0) return undefined;
    let ps = this.parentStates.get(key);
    if (!ps) {
      ps = { names: [...names], labels: Object.create(null) as Labels, items: new Set() };
      this.mergeInto(ps);
      this.parentStates.set(key, ps);
      for (const n of names) addTo(this.parentKeysByProfile, n, key);
    }
    ps.items.add(id);
    return ps;
  }

  private detachParent(id: string, ps: ParentState | undefined): void {
    if (!ps) return;
    ps.items.delete(id);
    if (ps.items.size > 0) return;
    const key = ps.names.join("\u0000");
    this.parentStates.delete(key);
    for (const n of ps.names) removeFrom(this.parentKeysByProfile, n, key);
  }

  private mergeInto(ps: ParentState): void {
    for (const k of Object.keys(ps.labels)) delete ps.labels[k];
    for (const n of ps.names) {
      const l = this.profileLabels.get(n);
      if (!l) continue;
      for (const k in l) if (!(k in ps.labels)) ps.labels[this.intern(k)] = this.intern(l[k]!);
    }
  }

  private forEachLabel(st: ItemState, f: (k: string, v: string) => void): void {
    for (const k in st.own) f(k, st.own[k]!);
    if (st.parent) {
      const pl = st.parent.labels;
      for (const k of Object.keys(pl)) if (!(k in st.own)) f(k, pl[k]!);
    }
  }

  private indexItem(id: string, st: ItemState): void {
    this.forEachLabel(st, (k, v) => {
      let byValue = this.itemsByLabel.get(k);
      if (!byValue) this.itemsByLabel.set(k, (byValue = new Map()));
      addTo(byValue, v, id);
    });
  }

  private unindexItem(id: string, st: ItemState): void {
    this.forEachLabel(st, (k, v) => {
      const byValue = this.itemsByLabel.get(k);
      if (!byValue) return;
      removeFrom(byValue, v, id);
      if (byValue.size === 0) this.itemsByLabel.delete(k);
    });
  }

  private fileSelector(id: string, st: SelectorState): void {
    const r = st.restriction;
    if (!r) this.unrestricted.add(id);
    else if (!r.values) addTo(this.selByLabel, r.label, id);
    else {
      let byValue = this.selByValue.get(r.label);
      if (!byValue) this.selByValue.set(r.label, (byValue = new Map()));
      for (const v of r.values) addTo(byValue, v, id);
    }
  }

  private unfileSelector(id: string, st: SelectorState): void {
    const r = st.restriction;
    if (!r) this.unrestricted.delete(id);
    else if (!r.values) removeFrom(this.selByLabel, r.label, id);
    else {
      const byValue = this.selByValue.get(r.label);
      if (!byValue) return;
      for (const v of r.values) removeFrom(byValue, v, id);
      if (byValue.size === 0) this.selByValue.delete(r.label);
    }
  }

  /** Re-evaluates the candidate selectors for an item whose effective labels changed. */
  private reevaluate(id: string, st: ItemState): void {
    const now = new Set<string>();
    const consider = (s: string): void => {
      if (now.has(s)) return;
      if (this.selectors.get(s)!.sel.matches(st.eff)) now.add(s);
    };
    for (const s of this.unrestricted) consider(s);
    this.forEachLabel(st, (k, v) => {
      const byLabel = this.selByLabel.get(k);
      if (byLabel) for (const s of byLabel) consider(s);
      const byValue = this.selByValue.get(k)?.get(v);
      if (byValue) for (const s of byValue) consider(s);
    });
    if (st.matches) for (const s of [...st.matches]) if (!now.has(s)) this.stopMatch(s, id, st, true);
    for (const s of now) if (!st.matches?.has(s)) this.startMatch(s, id, st, this.selectors.get(s)!);
  }

  private startMatch(selId: string, itemId: string, st: ItemState, sel: SelectorState): void {
    (st.matches ??= new Set()).add(selId);
    sel.items.add(itemId);
    this.cb.onMatchStarted(selId, itemId);
  }

  private stopMatch(selId: string, itemId: string, st: ItemState, keepItem: boolean): void {
    if (keepItem) {
      st.matches?.delete(selId);
      if (st.matches?.size === 0) st.matches = undefined;
    }
    this.selectors.get(selId)?.items.delete(itemId);
    this.cb.onMatchStopped(selId, itemId);
  }
}

const EMPTY: ReadonlySet<string> = new Set();

function sameLabels(a: Labels, b: Labels): boolean {
  let n = 0;
  for (const k in a) {
    if (a[k] !== b[k]) return false;
    n++;
  }
  for (const _ in b) n--;
  return n === 0;
}
