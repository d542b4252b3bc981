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
 * evaluated against every item. For the reverse lookup when a selector is added, items are indexed
 * by value only for the labels some selector has been filed under (an index built on first use),
 * so labels no selector needs (pod hashes, versions) cost nothing.
 *
 * Effective labels are plain objects whose prototype is the shared, merged labels of the item's
 * parent list (one object per distinct parent list, updated in place when a profile changes), so
 * inheritance costs no copy per item.
 * Pure: no I/O.
 */
import { NAMESPACE_LABEL, type Selector, type SelectorNode } from "../../selector/index.js";
import { addTo, removeFrom } from "./multimap.js";

export type Labels = Record<string, string>;

/** `data`: what the caller filed with the item (updateItem's last argument), as it is now. */
export interface LabelIndexCallbacks {
  onMatchStarted(selectorId: string, itemId: string, data: unknown): void;
  onMatchStopped(selectorId: string, itemId: string, data: unknown): void;
}

/** A label the selector needs present: with one of `values`, or any value when `values` is undefined. */
export interface Restriction {
  label: string;
  values?: readonly string[];
}

function score(r: Restriction): number {
  const ns = r.label === NAMESPACE_LABEL ? 2 : r.label.startsWith("pcns.") || r.label.startsWith("pcsa.") ? 1 : 0;
  return r.values ? ns + (r.values.length > 4 ? 1 : 0) : 4 + ns;
}

/** The labels a selector requires: for an AND, every operand's; otherwise the single best one. */
export function restrictionCandidates(node: SelectorNode): Restriction[] {
  if (node.op === "&&") return node.operands.flatMap(restrictionCandidates);
  const r = restrictionOf(node);
  return r ? [r] : [];
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
  key: string;
  names: string[];
  /** Merged labels of the parents (first wins); prototype null. Mutated in place. */
  labels: Labels;
  /** How many items have this parent list. */
  users: number;
}

interface ItemState {
  parent: ParentState | undefined;
  /** The item's own labels as own properties, over parent.labels (prototype chain). */
  eff: Labels;
  /** Selector ids matching the item (an array: usually a handful, and far smaller than a Set). */
  matches: string[] | undefined;
  /** The caller's data for the item (the IP set index keeps its addresses here: one map, not two). */
  data: unknown;
}

interface SelectorState {
  sel: Selector;
  restriction: Restriction | undefined;
  items: Set<string>;
}

const NO_PARENTS: readonly string[] = [];
const EMPTY: ReadonlySet<string> = new Set();
const NO_MATCHES: readonly string[] = [];
const ROOT = Object.freeze(Object.create(null)) as Labels;

export class LabelIndex {
  private readonly items = new Map<string, ItemState>();
  private readonly parentStates = new Map<string, ParentState>();
  private readonly parentKeysByProfile = new Map<string, Set<string>>();
  private readonly profileLabels = new Map<string, Labels>();
  /** For each label some selector is filed under: value → items having it. */
  private readonly itemsByLabel = new Map<string, Map<string, Set<string>>>();
  /** How many selectors are filed under each label. */
  private readonly labelUsers = new Map<string, number>();
  private readonly selectors = new Map<string, SelectorState>();
  /** label → value → selectors requiring it; label → selectors requiring its presence. */
  private readonly selByValue = new Map<string, Map<string, Set<string>>>();
  private readonly selByLabel = new Map<string, Set<string>>();
  private readonly unrestricted = new Set<string>();
  /** Interned label values (many endpoints share them; property names V8 interns itself). */
  private readonly strings = new Map<string, string>();

  constructor(private readonly cb: LabelIndexCallbacks) {}

  // ---------------- items ----------------

  /**
   * Adds or updates an item; undefined labels removes it. With `adopt`, the index takes the
   * labels object itself (re-parented onto the inherited labels) instead of copying it: the
   * caller must not use it again.
   */
  updateItem(id: string, own: Labels | undefined, parents: readonly string[] = NO_PARENTS, adopt = false, data?: unknown): void {
    const old = this.items.get(id);
    if (own === undefined) {
      if (!old) return;
      this.unindexItem(id, old.eff);
      if (old.matches) for (const s of [...old.matches]) this.stopMatch(s, id, undefined, old.data);
      this.detachParent(old.parent);
      this.items.delete(id);
      return;
    }
    const pkey = parents.length === 0 ? "" : parents.length === 1 ? parents[0]! : parents.join("\u0000");
    if (old) {
      if (data !== undefined) old.data = data;
      const samePk = (old.parent?.key ?? "") === pkey;
      if (samePk && sameOwnLabels(old.eff, own)) return;
      let parent = old.parent;
      if (!samePk) {
        this.detachParent(parent);
        parent = this.attachParent(parents, pkey);
      }
      const eff = this.effective(own, parent, adopt);
      this.reindexItem(id, old.eff, eff);
      old.parent = parent;
      old.eff = eff;
      this.reevaluate(id, old);
      return;
    }
    const parent = this.attachParent(parents, pkey);
    const st: ItemState = { parent, eff: this.effective(own, parent, adopt), matches: undefined, data };
    this.items.set(id, st);
    this.indexItem(id, st.eff);
    this.reevaluate(id, st);
  }

  /** The effective labels of an item (own over inherited), or undefined. */
  labelsOf(id: string): Labels | undefined {
    return this.items.get(id)?.eff;
  }

  /** The data filed with the item (undefined when there is no such item). */
  dataOf(id: string): unknown {
    return this.items.get(id)?.data;
  }

  /** Replaces an item's data, reporting nothing (the caller re-counts its matches itself). */
  setData(id: string, data: unknown): void {
    const st = this.items.get(id);
    if (st) st.data = data;
  }

  /** Selector ids currently matching the item. */
  matchesOf(id: string): readonly string[] {
    return this.items.get(id)?.matches ?? NO_MATCHES;
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
    // Profiles change rarely: find their items by one scan rather than keeping a set per parent list.
    const affected = new Set([...keys].map((k) => this.parentStates.get(k)!));
    const items: [string, ItemState][] = [];
    for (const e of this.items) if (e[1].parent && affected.has(e[1].parent)) items.push(e);
    for (const [id, st] of items) this.unindexItem(id, st.eff);
    for (const ps of affected) this.mergeInto(ps);
    for (const [id, st] of items) {
      this.indexItem(id, st.eff);
      this.reevaluate(id, st);
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
        for (const item of [...old.items]) this.stopMatch(id, item, this.items.get(item));
        this.selectors.delete(id);
        return;
      }
    }
    if (!sel) return;
    const restriction = this.chooseRestriction(sel.ast);
    const st: SelectorState = old ?? { sel, restriction, items: new Set() };
    st.sel = sel;
    st.restriction = restriction;
    this.selectors.set(id, st);
    this.fileSelector(id, st);
    // Candidates: the items that have the required label; or every item.
    const now = new Set<string>();
    const consider = (item: string): void => {
      if (sel.matches(this.items.get(item)!.eff)) now.add(item);
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
    for (const item of [...st.items]) if (!now.has(item)) this.stopMatch(id, item, this.items.get(item));
    for (const item of now) if (!st.items.has(item)) this.startMatch(id, item, this.items.get(item)!, st);
  }

  /** Items the selector currently matches. */
  itemsMatching(id: string): ReadonlySet<string> {
    return this.selectors.get(id)?.items ?? EMPTY;
  }

  // ---------------- internals ----------------

  /**
   * Among the labels a selector requires, the one to file it under: by kind (a value over mere
   * presence; the namespace and inherited labels last), then, between labels already indexed, the
   * one with more distinct values (fewer items per value: fewer candidates to evaluate).
   */
  private chooseRestriction(ast: SelectorNode): Restriction | undefined {
    let best: Restriction | undefined;
    let bestScore = Infinity;
    let bestSpread = -1;
    for (const r of restrictionCandidates(ast)) {
      const sc = score(r);
      const spread = this.itemsByLabel.get(r.label)?.size ?? 0;
      if (sc < bestScore || (sc === bestScore && spread > bestSpread)) {
        best = r;
        bestScore = sc;
        bestSpread = spread;
      }
    }
    return best;
  }

  private intern(s: string): string {
    // JSON.parse already interns strings of up to 10 characters (V8's JsonParser), and most label
    // values are that short: a lookup would find the same string.
    if (s.length <= 10) return s;
    const got = this.strings.get(s);
    if (got !== undefined) return got;
    if (this.strings.size < 1_000_000) this.strings.set(s, s);
    return s;
  }

  private effective(own: Labels, parent: ParentState | undefined, adopt: boolean): Labels {
    if (adopt) {
      // Re-parent the caller's object (JSON.parse makes it exactly sized) and intern its values.
      for (const k of Object.keys(own)) {
        const v = own[k];
        if (typeof v === "string") own[k] = this.intern(v);
        else delete own[k];
      }
      return Object.setPrototypeOf(own, parent ? parent.labels : ROOT) as Labels;
    }
    const eff = Object.create(parent ? parent.labels : ROOT) as Labels;
    for (const k in own) {
      const v = own[k];
      if (typeof v === "string") eff[k] = this.intern(v);
    }
    return eff;
  }

  private attachParent(names: readonly string[], key: string): ParentState | undefined {
    if (names.length === 0) return undefined;
    let ps = this.parentStates.get(key);
    if (!ps) {
      ps = { key, names: [...names], labels: Object.create(null) as Labels, users: 0 };
      this.mergeInto(ps);
      this.parentStates.set(key, ps);
      for (const n of names) addTo(this.parentKeysByProfile, n, key);
    }
    ps.users++;
    return ps;
  }

  private detachParent(ps: ParentState | undefined): void {
    if (!ps) return;
    if (--ps.users > 0) return;
    this.parentStates.delete(ps.key);
    for (const n of ps.names) removeFrom(this.parentKeysByProfile, n, ps.key);
  }

  private mergeInto(ps: ParentState): void {
    for (const k of Object.keys(ps.labels)) delete ps.labels[k];
    for (const n of ps.names) {
      const l = this.profileLabels.get(n);
      if (!l) continue;
      for (const k in l) if (!(k in ps.labels)) ps.labels[this.intern(k)] = this.intern(l[k]!);
    }
  }

  private indexItem(id: string, eff: Labels): void {
    for (const [label, byValue] of this.itemsByLabel) {
      const v = eff[label];
      if (v !== undefined) addTo(byValue, v, id);
    }
  }

  private unindexItem(id: string, eff: Labels): void {
    for (const [label, byValue] of this.itemsByLabel) {
      const v = eff[label];
      if (v !== undefined) removeFrom(byValue, v, id);
    }
  }

  private reindexItem(id: string, before: Labels, after: Labels): void {
    for (const [label, byValue] of this.itemsByLabel) {
      const a = before[label];
      const b = after[label];
      if (a === b) continue;
      if (a !== undefined) removeFrom(byValue, a, id);
      if (b !== undefined) addTo(byValue, b, id);
    }
  }

  /**
   * Counts the selectors filed under a label; the first builds the label's item index by one scan.
   * The index is kept when the count drops to zero: sets come and go as policies do, and
   * rebuilding it each time would cost a scan of every item.
   */
  private useLabel(label: string, delta: 1 | -1): void {
    const n = (this.labelUsers.get(label) ?? 0) + delta;
    if (n > 0) this.labelUsers.set(label, n);
    else this.labelUsers.delete(label);
    if (n === 1 && delta === 1 && !this.itemsByLabel.has(label)) {
      const byValue = new Map<string, Set<string>>();
      for (const [id, st] of this.items) {
        const v = st.eff[label];
        if (v !== undefined) addTo(byValue, v, id);
      }
      this.itemsByLabel.set(label, byValue);
    }
  }

  private fileSelector(id: string, st: SelectorState): void {
    const r = st.restriction;
    if (!r) {
      this.unrestricted.add(id);
      return;
    }
    this.useLabel(r.label, +1);
    if (!r.values) addTo(this.selByLabel, r.label, id);
    else {
      let byValue = this.selByValue.get(r.label);
      if (!byValue) this.selByValue.set(r.label, (byValue = new Map()));
      for (const v of r.values) addTo(byValue, v, id);
    }
  }

  private unfileSelector(id: string, st: SelectorState): void {
    const r = st.restriction;
    if (!r) {
      this.unrestricted.delete(id);
      return;
    }
    if (!r.values) removeFrom(this.selByLabel, r.label, id);
    else {
      const byValue = this.selByValue.get(r.label);
      if (byValue) {
        for (const v of r.values) removeFrom(byValue, v, id);
        if (byValue.size === 0) this.selByValue.delete(r.label);
      }
    }
    this.useLabel(r.label, -1);
  }

  /** Re-evaluates the candidate selectors for an item whose effective labels changed. */
  private reevaluate(id: string, st: ItemState): void {
    const eff = st.eff;
    // Each selector is filed in exactly one place (under one label, its values distinct), so it is
    // a candidate at most once.
    const now: string[] = [];
    for (const s of this.unrestricted) if (this.selectors.get(s)!.sel.matches(eff)) now.push(s);
    for (const [label, sels] of this.selByLabel) {
      if (eff[label] === undefined) continue;
      for (const s of sels) if (this.selectors.get(s)!.sel.matches(eff)) now.push(s);
    }
    for (const [label, byValue] of this.selByValue) {
      const v = eff[label];
      if (v === undefined) continue;
      const sels = byValue.get(v);
      if (sels) for (const s of sels) if (this.selectors.get(s)!.sel.matches(eff)) now.push(s);
    }
    const before = st.matches;
    if (before) for (const s of [...before]) if (!now.includes(s)) this.stopMatch(s, id, st);
    for (const s of now) if (!before?.includes(s)) this.startMatch(s, id, st, this.selectors.get(s)!);
  }

  private startMatch(selId: string, itemId: string, st: ItemState, sel: SelectorState): void {
    // Exact-size arrays: push() would reserve room for 16 more.
    st.matches = st.matches ? [...st.matches, selId] : [selId];
    sel.items.add(itemId);
    this.cb.onMatchStarted(selId, itemId, st.data);
  }

  /** `st` undefined: the item is going away (its match set is dropped with it). */
  private stopMatch(selId: string, itemId: string, st: ItemState | undefined, data: unknown = st?.data): void {
    if (st?.matches) {
      const i = st.matches.indexOf(selId);
      if (i !== -1) {
        st.matches[i] = st.matches[st.matches.length - 1]!;
        st.matches.pop();
      }
      if (st.matches.length === 0) st.matches = undefined;
    }
    this.selectors.get(selId)?.items.delete(itemId);
    this.cb.onMatchStopped(selId, itemId, data);
  }
}

/** True when `eff`'s own labels are exactly `own`. */
function sameOwnLabels(eff: Labels, own: Labels): boolean {
  let n = 0;
  for (const k in own) {
    if (!Object.hasOwn(eff, k) || eff[k] !== own[k]) return false;
    n++;
  }
  return Object.keys(eff).length === n;
}

function sameLabels(a: Labels, b: Labels): boolean {
  let n = 0;
  for (const k in a) {
    if (a[k] !== b[k]) return false;
    n++;
  }
  return Object.keys(b).length === n;
}
