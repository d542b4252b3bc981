/**
 * The namespace profile `kns.<ns>` every workload lists. In Kubernetes, Calico synthesises it
 * from the Namespace (allow all in both directions, namespace labels to inherit as `pcns.*`);
 * with no Kubernetes to do that, the plugin creates it on first use with the same content, so a
 * workload's traffic is allowed until a policy selects it. An existing profile is left as it is
 * (an operator may have changed it).
 */
import { randomUid } from "./uid.js";
import { resourceKey } from "../datastore/keys.js";
import type { Store } from "../datastore/store.js";

export async function ensureNamespaceProfile(store: Store, namespace: string, now: number): Promise<void> {
  const name = `kns.${namespace}`;
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
