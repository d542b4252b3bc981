/**
 * The rule scanner (felix `calc/rule_scanner.go`): compiles the rules of every active policy and
 * profile, and keeps a reference count of the IP sets they use, per policy or profile: a set is
 * created when the first user appears and removed when the last one goes (two rules sharing a
 * selector share one set). Sets are created before the rules that use them are sent, and released
 * after, so the dataplane never sees a rule naming a set it does not have.
 * Pure: no I/O.
 */
import type { ProfileSpec } from "../../model/index.js";
import { profileId, type PolicyData } from "./decode.js";
import type { IpSetIndex } from "./ipset-index.js";
import { compileRules, denyAllRules, type CompiledRules } from "./rule-compiler.js";
import type { DataplaneSink } from "./sequencer.js";

export class RuleScanner {
  private readonly setsByOwner = new Map<string, Set<string>>();
  private readonly refs = new Map<string, number>();

  constructor(
    private readonly ipSets: IpSetIndex,
    private readonly sink: DataplaneSink,
  ) {}

  onPolicyActive(p: PolicyData): void {
    const types = p.spec.types ?? ["Ingress"];
    const ingress = types.includes("Ingress") ? (p.spec.ingress ?? []) : [];
    const egress = types.includes("Egress") ? (p.spec.egress ?? []) : [];
    this.update(p.id, compileRules(p.id, ingress, egress, p.namespace));
  }

  onPolicyInactive(id: string): void {
    this.remove(id);
  }

  /** A profile some local endpoint uses; undefined: it does not exist (deny everything). */
  onProfileActive(name: string, spec: ProfileSpec | undefined): void {
    const id = profileId(name);
    this.update(id, spec ? compileRules(id, spec.ingress ?? [], spec.egress ?? [], undefined) : denyAllRules(id));
  }

  onProfileInactive(name: string): void {
    this.remove(profileId(name));
  }

  private update(owner: string, compiled: CompiledRules): void {
    const old = this.setsByOwner.get(owner) ?? new Set<string>();
    const now = new Set(compiled.ipSets.keys());
    for (const [id, spec] of compiled.ipSets) {
      if (old.has(id)) continue;
      const n = (this.refs.get(id) ?? 0) + 1;
      this.refs.set(id, n);
      if (n === 1) this.ipSets.addSet(spec);
    }
    this.sink.policyUpdated(owner, compiled.ingress, compiled.egress);
    for (const id of old) if (!now.has(id)) this.release(id);
    if (now.size) this.setsByOwner.set(owner, now);
    else this.setsByOwner.delete(owner);
  }

  private remove(owner: string): void {
    this.sink.policyRemoved(owner);
    for (const id of this.setsByOwner.get(owner) ?? []) this.release(id);
    this.setsByOwner.delete(owner);
  }

  private release(id: string): void {
    const n = (this.refs.get(id) ?? 1) - 1;
    if (n > 0) this.refs.set(id, n);
    else {
      this.refs.delete(id);
      this.ipSets.removeSet(id);
    }
  }
}
