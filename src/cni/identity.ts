/**
 * Who a CNI call is for, and the names derived from it. Pure.
 * - Kubernetes (CNI_ARGS has K8S_POD_NAMESPACE and K8S_POD_NAME): orchestrator `k8s`, the pod's
 *   namespace, workload = pod name, workload id `<namespace>.<pod>`.
 * - podman (K8S_POD_NAME alone, the container's name): orchestrator `cni`, namespace `default`,
 *   workload = that name, workload id = container id.
 * - Anything else: orchestrator `cni`, namespace `default`, workload = container id, workload id =
 *   container id.
 * IPAM handle: `tabby-net.<containerID>` (Calico uses `<network name>.<containerID>`, default
 *   `k8s-pod-network.<containerID>`; tabby uses one fixed network prefix so that `tabby ipam` and
 *   DEL find the handle without knowing the network's name).
 * WorkloadEndpoint name: Calico's `<node>-<orchestrator>-<workload>-<endpoint>`, each segment with
 *   `-` doubled so the name splits back unambiguously.
 */
import { API_VERSION, type Resource } from "../model/resource.js";
import type { CniArgs } from "./config.js";
import { hostVethName } from "../dataplane/links.js";

export const HANDLE_PREFIX = "tabby-net.";

export interface WorkloadIdentity {
  orchestrator: "k8s" | "cni";
  namespace: string;
  /** Pod name (k8s) or container id. */
  workload: string;
  /** Hashed into the host veth name. */
  workloadId: string;
  containerId: string;
}

export function workloadIdentity(containerId: string, args: CniArgs): WorkloadIdentity {
  if (args.k8sNamespace && args.k8sPodName) {
    return {
      orchestrator: "k8s",
      namespace: args.k8sNamespace,
      workload: args.k8sPodName,
      workloadId: `${args.k8sNamespace}.${args.k8sPodName}`,
      containerId,
    };
  }
  return { orchestrator: "cni", namespace: "default", workload: args.k8sPodName ?? containerId, workloadId: containerId, containerId };
}

export function ipamHandle(containerId: string): string {
  return HANDLE_PREFIX + containerId;
}

export function hostIfName(id: WorkloadIdentity): string {
  return hostVethName(id.workloadId);
}

const esc = (s: string) => s.replace(/-/g, "--");

export function wepName(node: string, id: WorkloadIdentity, endpoint: string): string {
  return [node, id.orchestrator, id.workload, endpoint].map(esc).join("-");
}

export interface WorkloadEndpointSpec {
  orchestrator: string;
  workload?: string;
  pod?: string;
  node: string;
  containerID: string;
  endpoint: string;
  interfaceName: string;
  mac: string;
  ipNetworks: string[];
  profiles: string[];
}

export type WorkloadEndpoint = Resource<"WorkloadEndpoint", WorkloadEndpointSpec>;

export function buildWep(p: {
  node: string;
  id: WorkloadIdentity;
  endpoint: string;
  interfaceName: string;
  mac: string;
  ipNetworks: string[];
  uid: string;
  creationTimestamp: string;
  /** The runtime's labels (labels.ts), already mapped and checked; tabby's own keys win. */
  labels?: Record<string, string>;
  /** Profiles after the namespace's (the CNI network's, outside Kubernetes). */
  profiles?: string[];
}): WorkloadEndpoint {
  const spec: WorkloadEndpointSpec = {
    orchestrator: p.id.orchestrator,
    node: p.node,
    containerID: p.id.containerId,
    endpoint: p.endpoint,
    interfaceName: p.interfaceName,
    mac: p.mac,
    ipNetworks: p.ipNetworks,
    profiles: [`kns.${p.id.namespace}`, ...(p.profiles ?? [])],
  };
  if (p.id.orchestrator === "k8s") spec.pod = p.id.workload;
  else spec.workload = p.id.workload;
  return {
    apiVersion: API_VERSION,
    kind: "WorkloadEndpoint",
    metadata: {
      name: wepName(p.node, p.id, p.endpoint),
      namespace: p.id.namespace,
      labels: { ...p.labels, "projectcalico.org/namespace": p.id.namespace, "projectcalico.org/orchestrator": p.id.orchestrator },
      uid: p.uid,
      creationTimestamp: p.creationTimestamp,
    },
    spec,
  };
}
