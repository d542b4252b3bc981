/**
 * The active rules calculator (felix `calc/active_rules_calculator.go`): matches every policy's
 * selector (with its namespace scoping) against this host's endpoints through a label index, and
 * decides what is active: a policy that applies to at least one local endpoint, a profile that a
 * local endpoint lists. Active policies and profiles go to the rule scanner (compiled, their IP
 * sets created); each (policy, endpoint) match goes to the policy resolver. A missing profile is
 * active too, with deny-all rules in its place (felix's DummyDropRules: fail closed).
 * preDNAT and doNotTrack policies are matched against host endpoints only. A policy with the
 * performance hint `AssumeNeededOnEveryNode` is active whether or not it applies here (felix sends
 * it to every node, so endpoints that appear later find it programmed).
 * Pure: no I/O.
 */
import type { ProfileSpec } from "../../model/index.js";
import { LabelIndex } from "./label-index.js";
import type { EndpointData, PolicyData } from "./decode.js";
import { policySelector } from "./rule-compiler.js";
import type { RuleScanner } from "./rule-scanner.js";
import { policyAppliesToKind, type PolicyResolver } from "./policy-resolver.js";
import { addTo, removeFrom } from "./multimap.js";

function flags(p: PolicyData): string {
  return `${p.spec.doNotTrack ? 1 : 0}${p.spec.preDNAT ? 1 : 0}`;
}

export class ActiveRulesCalculator {
  private readonly index: LabelIndex;
  private readonly policies = new Map<string, PolicyData>();
  /** Policy → local endpoints its selector matches / it applies to. */
  private readonly selected = new Map<string, Set<string>>();
  private readonly applied = new Map<string, Set<string>>();
  private readonly endpoints = new Map<string, EndpointData>();
  private readonly profiles = new Map<string, ProfileSpec>();
  private readonly profileUsers = new Map<string, number>();
  /** Policies active by their performance hint. */
  private readonly forced = new Set<string>();

  constructor(
    private readonly scanner: RuleScanner,
    private readonly resolver: PolicyResolver,
  ) {
    this.index = new LabelIndex({
      onMatchStarted: (pid, ep) => {
        addTo(this.selected, pid, ep);
        this.setApplied(pid, ep, this.applies(pid, ep));
      },
      onMatchStopped: (pid, ep) => {
        removeFrom(this.selected, pid, ep);
        this.setApplied(pid, ep, false);
      },
    });
  }

  onPolicy(id: string, p: PolicyData | undefined): void {
    const old = this.policies.get(id);
    if (!p) {
      if (!old) return;
      this.index.updateSelector(id, undefined);
      if (this.forced.delete(id)) this.scanner.onPolicyInactive(id);
      this.policies.delete(id);
      return;
    }
    this.policies.set(id, p);
    const force = p.spec.performanceHints?.includes("AssumeNeededOnEveryNode") === true;
    if (force && !this.forced.has(id)) {
      this.forced.add(id);
      if (!this.applied.has(id)) this.scanner.onPolicyActive(p);
    } else if (!force && this.forced.delete(id)) {
      if (!this.applied.has(id)) this.scanner.onPolicyInactive(id);
    } else if (old && force) {
      if (!this.applied.has(id)) this.scanner.onPolicyActive(p);
    }
    if (old && this.applied.has(id)) {
      this.scanner.onPolicyActive(p);
      this.resolver.onPolicyUpdated(p);
    }
    if (old && flags(old) !== flags(p)) {
      for (const ep of [...(this.selected.get(id) ?? [])]) this.setApplied(id, ep, this.applies(id, ep));
    }
    this.index.updateSelector(id, policySelector(p.spec, p.namespace));
  }

  onProfile(name: string, spec: ProfileSpec | undefined): void {
    if (spec) this.profiles.set(name, spec);
    else this.profiles.delete(name);
    this.index.updateParentLabels(name, spec?.labelsToApply);
    if (this.profileUsers.has(name)) this.scanner.onProfileActive(name, spec);
  }

  /** A local endpoint (undefined: gone, or no longer local). */
  onEndpoint(key: string, ep: EndpointData | undefined): void {
    const old = this.endpoints.get(key);
    for (const p of new Set(ep?.profiles ?? [])) this.useProfile(p, +1);
    for (const p of new Set(old?.profiles ?? [])) this.useProfile(p, -1);
    if (ep) this.endpoints.set(key, ep);
    else this.endpoints.delete(key);
    // Labels reach the resolver through matches; it needs to hear only of what it outputs.
    if (!old || !ep || !sameOutput(old, ep)) this.resolver.onEndpoint(key, ep);
    if (ep && old && old.kind !== ep.kind) {
      // The filter on policy kinds depends on the endpoint kind: re-derive.
      for (const pid of this.index.matchesOf(key)) this.setApplied(pid, key, this.applies(pid, key));
    }
    this.index.updateItem(key, ep?.labels, ep?.labelParents);
  }

  private applies(pid: string, ep: string): boolean {
    const p = this.policies.get(pid);
    const e = this.endpoints.get(ep);
    return p !== undefined && e !== undefined && policyAppliesToKind(p, e.kind);
  }

  private setApplied(pid: string, ep: string, on: boolean): void {
    const set = this.applied.get(pid);
    const was = set?.has(ep) ?? false;
    if (on === was) return;
    if (on) {
      addTo(this.applied, pid, ep);
      const p = this.policies.get(pid)!;
      if (!set && !this.forced.has(pid)) this.scanner.onPolicyActive(p);
      this.resolver.onPolicyMatch(p, ep);
    } else {
      removeFrom(this.applied, pid, ep);
      this.resolver.onPolicyMatchStopped(pid, ep);
      if (!this.applied.has(pid) && !this.forced.has(pid)) this.scanner.onPolicyInactive(pid);
    }
  }

  private useProfile(name: string, delta: 1 | -1): void {
    const n = (this.profileUsers.get(name) ?? 0) + delta;
    if (n > 0) {
      this.profileUsers.set(name, n);
      if (n === 1 && delta === 1) this.scanner.onProfileActive(name, this.profiles.get(name));
    } else {
      this.profileUsers.delete(name);
      this.scanner.onProfileInactive(name);
    }
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Whether two versions of an endpoint give the same endpoint update (given the same policies). */
function sameOutput(a: EndpointData, b: EndpointData): boolean {
  return (
    a.kind === b.kind &&
    a.id === b.id &&
    a.iface === b.iface &&
    sameList(a.nets, b.nets) &&
    sameList(a.profiles, b.profiles) &&
    sameList(a.allowSpoofedSources, b.allowSpoofedSources)
  );
}
