/**
 * Whether a datastore value the agent was given is a resource that fails validation (written
 * behind the API's back: by hand, by an older or buggy writer). The agent treats such a value
 * as absent (src/calc/policy/decode.ts); this names it for tabby_datastore_invalid_resources_total
 * and the datastore's last error. WorkloadEndpoints, the numerous kind, are left to the graph's
 * own cheaper checks so the hot path does not validate them twice. Pure: no I/O.
 */
import { parseKey } from "../calc/policy/decode.js";
import { validateResource } from "../model/validate.js";

export interface InvalidResource {
  kind: string;
  name: string;
  namespace?: string;
  message: string;
}

export function invalidResource(key: string, value: string | undefined): InvalidResource | undefined {
  if (value === undefined) return undefined;
  const rk = parseKey(key);
  if (!rk || rk.kind === "WorkloadEndpoint") return undefined;
  const where = { kind: rk.kind, name: rk.name, ...(rk.namespace !== undefined ? { namespace: rk.namespace } : {}) };
  let obj: unknown;
  try {
    obj = JSON.parse(value);
  } catch (err) {
    return { ...where, message: `not JSON: ${(err as Error).message}` };
  }
  try {
    // as the agent reads it: values tabby does not honour are not "invalid" here (a policy rule it
    // cannot enforce is skipped and reported on its own: src/calc/policy/unenforced.ts)
    validateResource(obj, {}, { stored: true });
    return undefined;
  } catch (err) {
    return { ...where, message: (err as Error).message };
  }
}
