/**
 * What a lab workload looks like to policy: the labels and named port an orchestrator would put
 * on its endpoint (as kube-controllers copies pod labels and container ports onto the
 * WorkloadEndpoint), and the namespace profile Kubernetes' namespace conversion would create.
 */
import type { ResourceClient } from "../datastore/resource-client.js";
import { API_VERSION, type Resource, type WorkloadEndpoint } from "../model/index.js";
import { TabbyError } from "../errors.js";
import { wepName, workloadIdentity } from "../cni/identity.js";
import { LAB_NAMESPACE, NAMED_PORT, type WorkloadPlan } from "./plan.js";

/** Labels of a lab workload: `app: w<j>` (its index on the host) and `host: h<i>`. */
export function workloadLabels(w: WorkloadPlan): Record<string, string> {
  return { app: w.name.slice(w.host.length + 1), host: w.host };
}

/** The namespace profile: allow all (as Kubernetes' default), namespace labels to inherit. */
export function namespaceProfile(): Resource {
  return {
    apiVersion: API_VERSION,
    kind: "Profile",
    metadata: { name: `kns.${LAB_NAMESPACE}` },
    spec: {
      ingress: [{ action: "Allow" }],
      egress: [{ action: "Allow" }],
      labelsToApply: { "pcns.projectcalico.org/name": LAB_NAMESPACE },
    },
  };
}

/** Puts the workload's labels and named port on the endpoint the CNI plugin wrote. */
export function labelWorkload(client: ResourceClient, w: WorkloadPlan): Promise<void> {
  return setWorkloadLabels(client, w, workloadLabels(w));
}

/** Merges `labels` (and the lab's named port) into the workload's endpoint; retried on conflict. */
export async function setWorkloadLabels(client: ResourceClient, w: WorkloadPlan, labels: Record<string, string>): Promise<void> {
  for (let attempt = 0; attempt < 20; attempt++) {
    // the endpoint's name as the CNI plugin makes it (one read, not a list of every endpoint)
    const id = workloadIdentity(w.containerId, { k8sNamespace: LAB_NAMESPACE, k8sPodName: w.name, ignoreUnknown: true, all: {} });
    const wep = await client.get<WorkloadEndpoint>("WorkloadEndpoint", wepName(w.host, id, "eth0"), LAB_NAMESPACE);
    if (!wep || wep.spec.containerID !== w.containerId)
      throw new TabbyError("LAB_NO_ENDPOINT", `no WorkloadEndpoint for ${w.name} (container ${w.containerId})`);
    wep.metadata.labels = { ...(wep.metadata.labels ?? {}), ...labels };
    wep.spec.ports = [{ ...NAMED_PORT }];
    try {
      await client.update(wep);
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== "DS_CONFLICT") throw err;
    }
  }
  throw new TabbyError("LAB_CONFLICT", `could not label ${w.name}: the endpoint kept changing`);
}
