/**
 * The policy calculation graph's public API: datastore updates in, dataplane events
 * (src/calc/policy-output.ts) out. Pure: no I/O.
 *
 *   const graph = buildPolicyCalcGraph(hostname);
 *   for (const { key, value } of snapshot) graph.onUpdate(key, value);   // JSON text or undefined
 *   graph.onInSync();
 *   dataplane.apply(graph.flush());            // the whole snapshot, ending with { kind: "in-sync" }
 *   ...
 *   graph.onUpdate(key, value);                // every later change (value undefined = deleted)
 *   dataplane.apply(graph.flush());            // what changed since the last flush, in order
 *
 * flush() returns [] until onInSync() has been called. Keys outside POLICY_WATCHED_PREFIXES, and
 * kinds the graph does not read, are ignored (onUpdate returns false).
 */
export { buildPolicyCalcGraph, POLICY_WATCHED_PREFIXES, type PolicyCalcGraph } from "./graph.js";
export { entitySelector, policySelector, compileRules } from "./rule-compiler.js";
export { restrictionOf, LabelIndex } from "./label-index.js";
export { EventSequencer, decodeMember } from "./sequencer.js";
