/**
 * The topology `tabby explain` walks, from a list of places: shared by the lab's resolver (places
 * from lab state, src/explain/lab.ts) and the datastore's (Nodes, WorkloadEndpoints and
 * HostEndpoints, src/explain/datastore.ts). A name is a place's name, an endpoint's
 * `namespace/name` or bare name, or a HostEndpoint's name (its node); an address belongs to the
 * place holding it, a workload on the asking host first (the same address may be reused per host).
 * Also the FelixConfiguration `default` failsafe ports explain checks. Pure.
 */
import type { Place, Topology } from "./walk.js";
import type { EvalHostEndpoint } from "../calc/policy-eval.js";
import { configFromSpec } from "../calc/policy/config.js";
import type { Resource } from "../model/resource.js";

export type PlacesTopology = Topology & { places: Place[] };

export function placesTopology(places: Place[], hostEndpoints: EvalHostEndpoint[] = [], ingressLink?: Topology["ingressLink"]): PlacesTopology {
  return {
    places,
    place: (name) => {
      const found = places.find((p) => p.name === name || p.endpoint === name || (p.endpoint && p.endpoint.split("/")[1] === name));
      if (found) return found;
      // a HostEndpoint by name: its host
      const hep = hostEndpoints.find((h) => h.name === name);
      return hep ? places.find((p) => p.kind === "host" && p.name === hep.node) : undefined;
    },
    ownerOf: (addr, near) => {
      const all = places.filter((p) => p.addrs.includes(addr) && p !== near);
      return all.find((p) => p.kind !== "workload" || p.host === near?.name) ?? all[0];
    },
    ...(ingressLink ? { ingressLink } : {}),
    workloadOn: (host, iface) => places.find((p) => p.kind === "workload" && p.host === host && p.iface === iface),
  };
}

/** FelixConfiguration `default`'s failsafe inbound ports (Calico's defaults when there is none). */
export function failsafeFromFelix(felixConfigs: Resource[]): { protocol: string; port: number }[] {
  const felix = felixConfigs.find((r) => r.metadata.name === "default");
  return configFromSpec((felix?.spec ?? {}) as Record<string, unknown>).failsafeInbound;
}
