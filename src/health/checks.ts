/**
 * Readiness and liveness of the agent, as Felix's health aggregator and calico-node's
 * readiness probe judge them: ready only when the datastore is synced (and answering), the
 * dataplane programmed, and BGP up with at least one Established peer where peers are
 * configured. Each check's state goes in the body, so an operator (or `tabby node status`)
 * sees which one fails and why. Pure: no I/O; time is a parameter.
 */
import type { AgentHealthInputs } from "../agent/agent.js";

export interface CheckResult {
  name: "datastore" | "dataplane" | "bgp";
  ok: boolean;
  /** What the check saw, in words. */
  detail: string;
  /** The component's last error, if any (with its age in seconds). */
  lastError?: { message: string; ageSeconds: number };
}

export interface HealthReport {
  ready: boolean;
  live: boolean;
  checks: CheckResult[];
}

/** The datastore probe's last answer (src/health/datastore-probe.ts). */
export interface ProbeState {
  ok: boolean;
  detail?: string;
}

export function healthReport(h: AgentHealthInputs, probe: ProbeState | undefined, now: number): HealthReport {
  const last = (c: CheckResult["name"]) => {
    const e = h.lastErrors[c];
    return e ? { lastError: { message: e.message, ageSeconds: Math.max(0, Math.floor((now - e.at) / 1000)) } } : {};
  };
  const synced = h.sync === "in-sync";
  const dsOk = synced && (probe?.ok ?? true);
  const datastore: CheckResult = {
    name: "datastore",
    ok: dsOk,
    detail: !synced ? `not in sync (${h.sync})` : probe && !probe.ok ? `in sync, but the datastore does not answer: ${probe.detail ?? "no answer"}` : "in sync",
    ...last("datastore"),
  };
  const dataplane: CheckResult = {
    name: "dataplane",
    ok: h.programmed,
    detail: h.programmed ? "programmed" : synced ? "not programmed yet (or the last pass failed)" : "waiting for the datastore",
    ...last("dataplane"),
  };
  const bgpOk = h.peersConfigured === 0 || h.peersEstablished > 0;
  const bgp: CheckResult = {
    name: "bgp",
    ok: bgpOk,
    detail: h.peersConfigured === 0 ? "no peers configured" : `${h.peersEstablished} of ${h.peersConfigured} peers Established`,
    ...last("bgp"),
  };
  const checks = [datastore, dataplane, bgp];
  // Live as long as the process answers: a datastore outage must not get the agent restarted
  // (it keeps the dataplane as it is meanwhile), as Felix's liveness does not fail on it.
  return { ready: checks.every((c) => c.ok), live: true, checks };
}

/** Before the agent exists (the datastore not reached yet): live, not ready. */
export function startingReport(detail: string): HealthReport {
  return {
    ready: false,
    live: true,
    checks: (["datastore", "dataplane", "bgp"] as const).map((name) => ({ name, ok: false, detail })),
  };
}
