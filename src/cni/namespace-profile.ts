/**
 * The namespace profile `kns.<ns>` every workload lists. In Kubernetes, Calico synthesises it
 * from the Namespace (allow all in both directions, namespace labels to inherit as `pcns.*`);
 * with no Kubernetes to do that, the plugin creates it on first use with the same content, so a
 * workload's traffic is allowed until a policy selects it. An existing profile is left as it is
 * (an operator may have changed it).
 *
 * Outside Kubernetes (orchestrator `cni`), a workload also lists its CNI network's profile
 * `cni.<network name>` (Calico's CNI plugin named a non-Kubernetes workload's profile after the
 * network), created on first use with `labelsToApply: {cni.network: <name>}` and no rules: the
 * endpoints of a network inherit that label (and any an operator adds to the profile), so policy
 * can select by network; with no rules it allows nothing of its own (the namespace profile before
 * it decides what profiles allow).
 */
import { randomUid } from "./uid.js";
import { resourceKey } from "../model/keys.js";
import type { Store } from "../datastore/store.js";

export async function ensureNamespaceProfile(store: Store, namespace: string, now: number): Promise<void> {
  const name = `kns.${namespace}`;
  // Usually there already: a read takes no write lock, where a create that fails would
  if (await store.get(resourceKey("Profile", name))) return;
  const profile = {
    apiVersion: "projectcalico.org/v3",
    kind: "Profile",
    metadata: { name, uid: await randomUid(), creationTimestamp: new Date(now).toISOString().replace(/\.\d{3}Z$/, "Z") },
    spec: {
      ingress: [{ action: "Allow" }],
      egress: [{ action: "Allow" }],
      labelsToApply: { "pcns.projectcalico.org/name": namespace },
    },
  };
  try {
    await store.create(resourceKey("Profile", name), JSON.stringify(profile));
  } catch (err) {
    if ((err as { code?: string }).code !== "DS_ALREADY_EXISTS") throw err;
  }
}

/** The profile name for a CNI network name (resource names are lower case, no `_`). Pure. */
export function networkProfileName(network: string): string {
  return `cni.${network.toLowerCase().replace(/_/g, "-")}`;
}

export async function ensureNetworkProfile(store: Store, network: string, now: number): Promise<string> {
  const name = networkProfileName(network);
  if (await store.get(resourceKey("Profile", name))) return name;
  const profile = {
    apiVersion: "projectcalico.org/v3",
    kind: "Profile",
    metadata: { name, uid: await randomUid(), creationTimestamp: new Date(now).toISOString().replace(/\.\d{3}Z$/, "Z") },
    spec: { labelsToApply: { "cni.network": network.slice(0, 63) } },
  };
  try {
    await store.create(resourceKey("Profile", name), JSON.stringify(profile));
  } catch (err) {
    if ((err as { code?: string }).code !== "DS_ALREADY_EXISTS") throw err;
  }
  return name;
}
