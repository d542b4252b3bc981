/**
 * IP set membership (felix `labelindex.SelectorAndNamedPortIndex`): matches the selectors of the
 * active IP sets against ALL endpoints of the cluster (WorkloadEndpoints by `ipNetworks`,
 * HostEndpoints by `expectedIPs`) and all network sets (by `nets`), and keeps each set's members
 * reference-counted, so an address contributed by two endpoints (overlapping IPs) leaves the set
 * only when the last contributor goes. Named-port sets hold (address, protocol, port) for each
 * address of a selected endpoint that has a port of that name and protocol.
 *
 * Named-port sets are matched as "selector AND has the port": each endpoint carries a pseudo-label
 * per named port (`#port/<proto>/<name>`, a name no selector can spell, since `#` is not a label
 * character), so the label index files an unfiltered named port (`all()`) under that label and
 * never evaluates endpoints without the port.
 * Pure: no I/O.
 */
import { selectorFromAst, type Selector } from "../../selector/index.js";
import { LabelIndex, type Labels } from "./label-index.js";
import type { NamedPort } from "./decode.js";
import type { IpSetSpec } from "./rule-compiler.js";
import { decodeMember, type DataplaneSink } from "./sequencer.js";
import type { IpSetMember } from "../policy-output.js";

export interface MemberSource {
  nets: string[];
  ports: NamedPort[];
}

/** A source with one address and no ports is kept as that address alone (most endpoints). */
type StoredSource = MemberSource | string;

function expand(s: StoredSource): MemberSource {
  return typeof s === "string" ? { nets: [s], ports: NO_PORTS } : s;
}

interface SetState {
  spec: IpSetSpec;
  members: Map<string, number>;
  /** Removed from the dataplane, membership still kept (see DEAD_SETS_KEPT). */
  dead: boolean;
  /**
   * The members (keys of `members`, in order) and their decoded form, made when a dead set is
   * brought back and dropped when membership changes: a set that comes and goes with the same
   * members is re-sent without touching each member again.
   */
  snapshot: { members: string[]; decoded: IpSetMember[] } | undefined;
}

/**
 * How many removed sets keep their membership up to date, most recently removed first. Sets come
 * and go with the policies that use them (an endpoint relabelled back and forth); bringing one
 * back then costs sending its members, not evaluating its selector against every endpoint again.
 * The dataplane is told of every removal and re-creation all the same: output is state only.
 */
export const DEAD_SETS_KEPT = 64;

const NO_PORTS: NamedPort[] = [];

/** Port pseudo-labels by protocol and name, made once (a property name is looked up by its text). */
const portLabels = new Map<string, Map<string, string>>();
function portLabel(protocol: string, name: string): string {
  let byName = portLabels.get(protocol);
  if (!byName) portLabels.set(protocol, (byName = new Map()));
  let l = byName.get(name);
  if (l === undefined) {
    l = `#port/${protocol}/${name}`;
    if (byName.size < 10_000) byName.set(name, l);
  }
  return l;
}

/** The selector the label index evaluates for a set, and the id it is filed under. */
function indexSelector(spec: IpSetSpec): { id: string; sel: Selector } {
  if (!spec.namedPort) return { id: spec.selector.uniqueId(), sel: spec.selector };
  const has = { op: "has" as const, label: portLabel(spec.namedPort.protocol, spec.namedPort.name) };
  const sel = selectorFromAst(spec.selector.ast.op === "all" ? has : { op: "&&", operands: [spec.selector.ast, has] });
  return { id: sel.uniqueId(), sel };
}

function addrOf(cidr: string): string {
  const slash = cidr.indexOf("/");
  return slash === -1 ? cidr : cidr.slice(0, slash);
}

function sameSource(a: MemberSource, b: MemberSource): boolean {
  if (a.nets.length !== b.nets.length || a.ports.length !== b.ports.length) return false;
  for (let i = 0; i < a.nets.length; i++) if (a.nets[i] !== b.nets[i]) return false;
  for (let i = 0; i < a.ports.length; i++) {
    const x = a.ports[i]!;
    const y = b.ports[i]!;
    if (x.name !== y.name || x.protocol !== y.protocol || x.port !== y.port) return false;
  }
  return true;
}

export class IpSetIndex {
  private readonly labels: LabelIndex;
  private readonly sets = new Map<string, SetState>();
  private readonly setsBySelector = new Map<string, SetState[]>();
  /** Dead sets, oldest first (Map insertion order). */
  private readonly dead = new Map<string, SetState>();

  constructor(private readonly sink: DataplaneSink) {
    this.labels = new LabelIndex({
      onMatchStarted: (sel, _item, data) => this.contribute(sel, data as StoredSource, +1),
      onMatchStopped: (sel, _item, data) => this.contribute(sel, data as StoredSource, -1),
    });
  }

  /** An endpoint or network set (undefined source: removed). */
  updateItem(id: string, source: MemberSource | undefined, labels?: Labels, parents?: readonly string[], adopt = false): void {
    if (!source) {
      this.labels.updateItem(id, undefined);
      return;
    }
    // Keep only what membership needs (not the whole decoded endpoint), as the item's data in
    // the label index.
    let stored: StoredSource =
      source.ports.length === 0 && source.nets.length === 1 ? source.nets[0]! : { nets: source.nets, ports: source.ports.length ? source.ports : NO_PORTS };
    const old = this.labels.dataOf(id) as StoredSource | undefined;
    if (old !== undefined) {
      if (!sameSource(expand(old), expand(stored))) {
        const matched = [...this.labels.matchesOf(id)];
        for (const sel of matched) this.contribute(sel, old, -1);
        this.labels.setData(id, stored);
        for (const sel of matched) this.contribute(sel, stored, +1);
      } else stored = old;
    }
    let l = labels ?? {};
    if (source.ports.length) {
      if (!adopt) l = { ...l };
      for (const p of source.ports) l[portLabel(p.protocol, p.name)] = "";
    }
    this.labels.updateItem(id, l, parents, adopt || l !== labels, stored);
  }

  updateProfileLabels(name: string, labels: Labels | undefined): void {
    this.labels.updateParentLabels(name, labels);
  }

  /** A set became active: announce it, then fill it. */
  addSet(spec: IpSetSpec): void {
    const known = this.sets.get(spec.id);
    if (known) {
      if (!known.dead) return;
      known.dead = false;
      this.dead.delete(spec.id);
      if (!known.snapshot) {
        const members = [...known.members.keys()];
        known.snapshot = { members, decoded: members.map(decodeMember) };
      }
      this.sink.ipSetRestored(spec.id, spec.namedPort ? "ip-port" : "net", known.snapshot.members, known.snapshot.decoded);
      return;
    }
    const st: SetState = { spec, members: new Map(), dead: false, snapshot: undefined };
    this.sets.set(spec.id, st);
    this.sink.ipSetAdded(spec.id, spec.namedPort ? "ip-port" : "net", () => st.members.keys());
    const { id: selId, sel } = indexSelector(spec);
    const list = this.setsBySelector.get(selId);
    if (list) {
      list.push(st);
      for (const item of this.labels.itemsMatching(selId)) this.contributeTo(st, this.labels.dataOf(item) as StoredSource | undefined, +1);
    } else {
      this.setsBySelector.set(selId, [st]);
      this.labels.updateSelector(selId, sel);
    }
  }

  removeSet(id: string): void {
    const st = this.sets.get(id);
    if (!st || st.dead) return;
    this.sink.ipSetRemoved(id);
    st.dead = true;
    this.dead.set(id, st);
    while (this.dead.size > DEAD_SETS_KEPT) {
      const [oldest, ost] = this.dead.entries().next().value as [string, SetState];
      this.dead.delete(oldest);
      this.forget(oldest, ost);
    }
  }

  /** Drops a dead set for good. */
  private forget(id: string, st: SetState): void {
    this.sets.delete(id);
    const selId = indexSelector(st.spec).id;
    const list = this.setsBySelector.get(selId)!;
    const rest = list.filter((s) => s !== st);
    if (rest.length) this.setsBySelector.set(selId, rest);
    else {
      this.setsBySelector.delete(selId);
      this.labels.updateSelector(selId, undefined);
    }
  }

  /** Current members of a set (for tests and debugging). */
  membersOf(id: string): string[] {
    const st = this.sets.get(id);
    return st && !st.dead ? [...st.members.keys()] : [];
  }

  private contribute(selId: string, stored: StoredSource | undefined, delta: 1 | -1): void {
    const list = this.setsBySelector.get(selId);
    if (list) for (const st of list) this.contributeTo(st, stored, delta);
  }

  private contributeTo(st: SetState, stored: StoredSource | undefined, delta: 1 | -1): void {
    if (stored === undefined) return;
    if (typeof stored === "string") {
      if (!st.spec.namedPort) this.count(st, stored, delta);
      return;
    }
    const src = stored;
    const np = st.spec.namedPort;
    if (!np) {
      for (const n of src.nets) this.count(st, n, delta);
      return;
    }
    for (const p of src.ports) {
      if (p.name !== np.name || p.protocol !== np.protocol) continue;
      for (const n of src.nets) this.count(st, `${addrOf(n)},${p.protocol}:${p.port}`, delta);
    }
  }

  private count(st: SetState, member: string, delta: 1 | -1): void {
    const had = st.members.get(member);
    if (had === undefined && delta === -1) return;
    const n = (had ?? 0) + delta;
    if (n > 0) {
      st.members.set(member, n);
      if (n === 1 && delta === 1) {
        st.snapshot = undefined;
        if (!st.dead) this.sink.ipSetMemberAdded(st.spec.id, member);
      }
    } else {
      st.members.delete(member);
      st.snapshot = undefined;
      if (!st.dead) this.sink.ipSetMemberRemoved(st.spec.id, member);
    }
  }
}
