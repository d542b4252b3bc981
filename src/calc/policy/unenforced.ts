/**
 * Fail closed, reported: which rules of a stored policy or profile the dataplane skips because
 * their match criteria cannot be enforced (`http`, `services`; src/model/rules.ts
 * unenforceableCriteria). `tabby apply` refuses such rules; one can still reach the agent when
 * another tool (or an older tabby) wrote it straight to the datastore. The rule compiler never
 * compiles it (an Allow allows nothing, a Deny/Pass/Log does nothing: like Felix, a rule that
 * cannot be rendered is skipped), and the agent reports it through this function.
 * Pure: no I/O.
 */
import { unenforceableCriteria, type Rule } from "../../model/rules.js";
import type { StoredObject } from "../../model/stored.js";
import { parseKey } from "./decode.js";

/** One line per skipped rule of a decoded stored object (src/model/stored.ts),, e.g. `GlobalNetworkPolicy web: spec.ingress[0].http: ...`; [] for other keys. */
export function unenforcedRulesOf(key: string, value: StoredObject | undefined): string[] {
  if (value === undefined) return [];
  const id = parseKey(key);
  if (!id || (id.kind !== "NetworkPolicy" && id.kind !== "GlobalNetworkPolicy" && id.kind !== "Profile")) return [];
  const spec = value.spec as { ingress?: unknown; egress?: unknown } | undefined;
  const who = `${id.kind} ${id.namespace ? `${id.namespace}/` : ""}${id.name}`;
  const out: string[] = [];
  for (const dir of ["ingress", "egress"] as const) {
    const rules = spec?.[dir];
    if (!Array.isArray(rules)) continue;
    rules.forEach((r, i) => {
      if (!r || typeof r !== "object") return;
      for (const u of unenforceableCriteria(r as Rule))
        out.push(`${who}: spec.${dir}[${i}].${u.path}: rule skipped (never matches): ${u.message.split(";")[0]}`);
    });
  }
  return out;
}
