/**
 * A workload's labels at ADD (issue #16), from every place a runtime puts them, and the network
 * configuration's prefix mapping. Pure.
 *
 * Sources, later ones winning on the same key:
 * 1. `runtimeConfig["io.kubernetes.cri.pod-annotations"]` (containerd's pod-annotations
 *    capability): the pod's annotations, a map. Annotations are free-form, so only those whose key
 *    and value are valid labels are taken (the rest are not labels; they are skipped, not refused).
 * 2. `args.cni.labels` (the CNI "args" convention, `[{ "key": K, "value": V }]`), also
 *    `runtimeConfig.labels` in the same form or as a map (podman, containerd `ctr --label`).
 *    These are meant as labels: an invalid one fails the ADD.
 * Then the network config's `labels` block: `only` (optional) keeps only the runtime's keys that
 * start with one of its prefixes; `map` renames key prefixes (`{"from/": "to/"}`, `""` strips the
 * prefix; the longest matching prefix wins; `null` drops the key). The prefix `projectcalico.org/` and `pcns.` are tabby's
 * own (namespace, orchestrator, inherited namespace labels): a runtime label that still carries one
 * after mapping fails the ADD rather than letting a workload claim another namespace's identity.
 * CNI_ARGS K8S_POD_NAMESPACE/K8S_POD_NAME give the namespace and orchestrator (identity.ts).
 */
import { CNI_ERR, CniError } from "./errors.js";

export const POD_ANNOTATIONS_CAP = "io.kubernetes.cri.pod-annotations";
export const RESERVED_LABEL_PREFIXES = ["projectcalico.org/", "pcns."];

export interface LabelRules {
  /** Prefix → replacement prefix, or null to drop keys with that prefix. */
  map: Record<string, string | null>;
  /** When set, only the runtime's keys (before mapping) with one of these prefixes are kept. */
  only?: string[];
}

export interface RuntimeLabels {
  /** From pod annotations: taken only where key and value are valid labels. */
  annotations: Record<string, string>;
  /** Given as labels. */
  labels: Record<string, string>;
}

// The datastore's label rules (model/meta.ts), restated here so that ADD does not load the model's
// validators and the selector parser they pull in (docs/benchmarks.md: keep the ADD path small).
const DNS_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const SUBDOMAIN = new RegExp(`^${DNS_LABEL}(\\.${DNS_LABEL})*$`);
const NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

/** Why `key` is not a label key (Kubernetes qualified name), or undefined. */
export function labelKeyProblem(key: string): string | undefined {
  const slash = key.lastIndexOf("/");
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !SUBDOMAIN.test(prefix))) return "the key's prefix must be a DNS-1123 subdomain";
  if (name.length === 0 || name.length > 63 || !NAME.test(name))
    return "the key's name must be 1-63 alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric";
  return undefined;
}

/** Why `value` is not a label value, or undefined. */
export function labelValueProblem(value: string): string | undefined {
  if (value === "") return undefined;
  if (value.length > 63 || !NAME.test(value)) return "the value must be empty or 1-63 alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric";
  return undefined;
}

type Bad = (field: string, why: string) => CniError;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** `[{key, value}]` or `{key: value}` → a map; throws for anything else. */
export function labelList(v: unknown, field: string, bad: Bad): Record<string, string> {
  const out: Record<string, string> = {};
  if (Array.isArray(v)) {
    for (const e of v) {
      if (!isObject(e) || typeof e.key !== "string" || typeof e.value !== "string") throw bad(field, `entries must be {"key": string, "value": string}`);
      out[e.key] = e.value;
    }
    return out;
  }
  if (isObject(v)) {
    for (const [k, val] of Object.entries(v)) {
      if (typeof val !== "string") throw bad(field, `value of ${JSON.stringify(k)} must be a string`);
      out[k] = val;
    }
    return out;
  }
  throw bad(field, `must be a list of {"key", "value"} or a map`);
}

/** The network config's `labels` block. */
export function parseLabelRules(v: unknown, bad: Bad): LabelRules {
  if (!isObject(v)) throw bad("labels", `must be an object with "map" and/or "only"`);
  const extra = Object.keys(v).filter((k) => k !== "map" && k !== "only");
  if (extra.length) throw bad("labels", `has fields tabby does not implement: ${extra.join(", ")}`);
  const rules: LabelRules = { map: {} };
  if (v.map !== undefined) {
    if (!isObject(v.map)) throw bad("labels.map", "must be a map of prefix to prefix (or null)");
    for (const [from, to] of Object.entries(v.map)) {
      if (to !== null && typeof to !== "string") throw bad("labels.map", `${JSON.stringify(from)} must map to a prefix or null`);
      rules.map[from] = to;
    }
  }
  if (v.only !== undefined) {
    if (!Array.isArray(v.only) || !v.only.every((p) => typeof p === "string")) throw bad("labels.only", "must be a list of prefixes");
    rules.only = v.only as string[];
  }
  return rules;
}

/** The key after the filter and the prefix map; undefined when dropped. */
export function mapKey(key: string, rules: LabelRules): string | undefined {
  if (rules.only && !rules.only.some((p) => key.startsWith(p))) return undefined;
  let best: string | undefined;
  for (const from of Object.keys(rules.map)) if (key.startsWith(from) && (best === undefined || from.length > best.length)) best = from;
  let out = key;
  if (best !== undefined) {
    const to = rules.map[best];
    if (to === null || to === undefined) return undefined;
    out = to + key.slice(best.length);
  }
  return out;
}

/** The workload's labels from the runtime, mapped and checked. Throws CNI_ERR.INVALID_CONFIG. */
export function workloadLabels(src: RuntimeLabels, rules: LabelRules): Record<string, string> {
  const out: Record<string, string> = {};
  const add = (k: string, v: string, strict: boolean) => {
    const key = mapKey(k, rules);
    if (key === undefined) return;
    const problem = labelKeyProblem(key) ?? labelValueProblem(v);
    if (problem) {
      if (!strict) return;
      throw new CniError(
        CNI_ERR.INVALID_CONFIG,
        `label ${JSON.stringify(key)}=${JSON.stringify(v)}${key !== k ? ` (from ${JSON.stringify(k)})` : ""}: ${problem}`,
      );
    }
    if (RESERVED_LABEL_PREFIXES.some((p) => key.startsWith(p))) {
      throw new CniError(
        CNI_ERR.INVALID_CONFIG,
        `label ${JSON.stringify(key)}: the prefixes ${RESERVED_LABEL_PREFIXES.join(", ")} are tabby's own; map or drop it in the network config's "labels"`,
      );
    }
    out[key] = v;
  };
  for (const [k, v] of Object.entries(src.annotations)) add(k, v, false);
  for (const [k, v] of Object.entries(src.labels)) add(k, v, true);
  return out;
}
