/**
 * Calico's checks that need the rest of the datastore (libcalico-go clientv3), run by the
 * ResourceClient before a write:
 *   - an IPPool's CIDR must not overlap another pool's (clientv3 ippools: "IPPool(x) CIDR overlaps
 *     with IPPool(y) CIDR"); checked on create and on update (a pool can be replaced in place);
 *   - a Tier that still holds policies cannot be deleted (clientv3 tiers.Delete), and the built-in
 *     tiers (default, kube-admin, kube-baseline) cannot be deleted at all.
 * Errors carry code MODEL_INVALID with the field path, like the model's own validation.
 */
import { ValidationError } from "../model/errors.js";
import { BUILTIN_TIERS } from "../model/tier.js";
import type { Resource } from "../model/resource.js";
import { tryParsePrefix } from "../net/index.js";

interface Lister {
  list(kind: string): Promise<{ items: Resource[] }>;
}

/** Refuses `r` (about to be written) when it conflicts with what is stored. */
export async function checkWrite(client: Lister, r: Resource): Promise<void> {
  if (r.kind !== "IPPool") return;
  const cidr = tryParsePrefix(String((r.spec as { cidr?: unknown }).cidr ?? ""));
  if (!cidr) return;
  for (const other of (await client.list("IPPool")).items) {
    if (other.metadata.name === r.metadata.name) continue;
    const o = tryParsePrefix(String((other.spec as { cidr?: unknown }).cidr ?? ""));
    if (o && o.family === cidr.family && o.overlaps(cidr)) {
      throw new ValidationError(
        [{ path: "spec.cidr", message: `${cidr} overlaps IPPool ${JSON.stringify(other.metadata.name)} (${o}); pools must not overlap` }],
        { kind: "IPPool", name: r.metadata.name },
      );
    }
  }
}

/** Refuses deleting a resource others still depend on. */
export async function checkDelete(client: Lister, kind: string, name: string): Promise<void> {
  if (kind !== "Tier") return;
  if (BUILTIN_TIERS[name])
    throw new ValidationError([{ path: "metadata.name", message: `the ${name} tier is built in and cannot be deleted` }], { kind, name });
  const users: string[] = [];
  for (const k of ["NetworkPolicy", "GlobalNetworkPolicy"]) {
    for (const p of (await client.list(k)).items) {
      if (((p.spec as { tier?: string }).tier ?? "default") === name)
        users.push(`${k}(${p.metadata.namespace ? `${p.metadata.namespace}/` : ""}${p.metadata.name})`);
    }
  }
  if (users.length) {
    const shown = users.slice(0, 5).join(", ") + (users.length > 5 ? ` and ${users.length - 5} more` : "");
    throw new ValidationError(
      [
        {
          path: "metadata.name",
          message: `tier ${name} still holds ${users.length} polic${users.length === 1 ? "y" : "ies"} (${shown}); delete or move them first`,
        },
      ],
      { kind, name },
    );
  }
}
