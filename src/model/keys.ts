/**
 * Calico's etcd v3 key layout (libcalico-go `backend/model`), used by every backend so that a
 * store's content is laid out the same whether it lives in SQLite or etcd:
 *   /calico/resources/v3/projectcalico.org/<plural>/<name>              (cluster-scoped)
 *   /calico/resources/v3/projectcalico.org/<plural>/<namespace>/<name>  (namespaced)
 * IPAM objects live under /calico/ipam/v2/ (see src/ipam/keys.ts). It belongs to the model (its
 * errors are MODEL_*): the model, the calculation graph and every backend use it.
 */
import { TabbyError } from "../errors.js";

export const RESOURCE_ROOT = "/calico/resources/v3/projectcalico.org/";

/** Kind → plural and scope, as registered by Calico. */
export const KINDS: Readonly<Record<string, { plural: string; namespaced: boolean }>> = {
  BGPConfiguration: { plural: "bgpconfigurations", namespaced: false },
  BGPFilter: { plural: "BGPFilters", namespaced: false },
  BGPPeer: { plural: "bgppeers", namespaced: false },
  CalicoNodeStatus: { plural: "caliconodestatuses", namespaced: false },
  ClusterInformation: { plural: "clusterinformations", namespaced: false },
  FelixConfiguration: { plural: "felixconfigurations", namespaced: false },
  GlobalNetworkPolicy: { plural: "globalnetworkpolicies", namespaced: false },
  GlobalNetworkSet: { plural: "globalnetworksets", namespaced: false },
  HostEndpoint: { plural: "hostendpoints", namespaced: false },
  IPAMConfiguration: { plural: "ipamconfigurations", namespaced: false },
  IPPool: { plural: "ippools", namespaced: false },
  IPReservation: { plural: "ipreservations", namespaced: false },
  KubeControllersConfiguration: { plural: "kubecontrollersconfigurations", namespaced: false },
  NetworkPolicy: { plural: "networkpolicies", namespaced: true },
  NetworkSet: { plural: "networksets", namespaced: true },
  Node: { plural: "nodes", namespaced: false },
  Profile: { plural: "profiles", namespaced: false },
  Tier: { plural: "tiers", namespaced: false },
  WorkloadEndpoint: { plural: "workloadendpoints", namespaced: true },
};

export function kindInfo(kind: string): { plural: string; namespaced: boolean } {
  const info = KINDS[kind];
  if (!info) throw new TabbyError("MODEL_UNKNOWN_KIND", `unknown resource kind: ${kind}`, { kind });
  return info;
}

/** Key of one resource. Namespaced kinds require a namespace. */
export function resourceKey(kind: string, name: string, namespace?: string): string {
  const { plural, namespaced } = kindInfo(kind);
  if (namespaced) {
    if (!namespace) throw new TabbyError("MODEL_NAMESPACE_REQUIRED", `${kind} ${name} needs a namespace`, { kind, name });
    return `${RESOURCE_ROOT}${plural}/${namespace}/${name}`;
  }
  return `${RESOURCE_ROOT}${plural}/${name}`;
}

/** Prefix under which every resource of a kind (optionally in one namespace) lives. */
export function kindPrefix(kind: string, namespace?: string): string {
  const { plural, namespaced } = kindInfo(kind);
  return namespaced && namespace ? `${RESOURCE_ROOT}${plural}/${namespace}/` : `${RESOURCE_ROOT}${plural}/`;
}

/** Inverse of resourceKey: which kind, namespace and name a key names, or undefined. */
export function parseResourceKey(key: string): { kind: string; name: string; namespace?: string } | undefined {
  if (!key.startsWith(RESOURCE_ROOT)) return undefined;
  const parts = key.slice(RESOURCE_ROOT.length).split("/");
  const plural = parts[0];
  const entry = Object.entries(KINDS).find(([, v]) => v.plural === plural);
  if (!entry) return undefined;
  const [kind, { namespaced }] = entry;
  if (namespaced && parts.length === 3) return { kind, namespace: parts[1]!, name: parts[2]! };
  if (!namespaced && parts.length === 2) return { kind, name: parts[1]! };
  return undefined;
}
