/**
 * The policy calculation graph's public API: datastore updates in, dataplane events
 * (src/calc/policy-output.ts) out. Pure: no I/O.
 */
export { buildPolicyCalcGraph, POLICY_WATCHED_PREFIXES, type PolicyCalcGraph } from "./graph.js";
export { entitySelector, policySelector, compileRules } from "./rule-compiler.js";
export { restrictionOf, LabelIndex } from "./label-index.js";
export { EventSequencer, decodeMember } from "./sequencer.js";
