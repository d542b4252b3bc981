/**
 * Kind names as users type them on the command line, like calicoctl: case-insensitive,
 * singular or plural, or Calico's short names (`wep`, `hep`, `bgpconfig`, `gnp`, …).
 * Pure: no I/O.
 */
import { KINDS } from "./keys.js";

const SHORT: Record<string, string[]> = {
  Node: ["no"],
  IPPool: ["ipp", "ipps", "pool", "pools"],
  WorkloadEndpoint: ["wep", "weps"],
  HostEndpoint: ["hep", "heps"],
  Profile: ["pro", "pros"],
  BGPConfiguration: ["bgpconfig", "bgpconfigs", "bgpconf"],
  BGPPeer: ["bgpp", "bgpps", "bgppeer", "peer", "peers"],
  NetworkPolicy: ["policy", "policies", "pol", "pols", "np", "nps"],
  GlobalNetworkPolicy: ["gnp", "gnps", "globalpolicy", "globalpolicies", "gpol", "gpols"],
  NetworkSet: ["netset", "netsets"],
  GlobalNetworkSet: ["globalnetset", "globalnetsets", "gns"],
  FelixConfiguration: ["felixconfig", "felixconfigs"],
  ClusterInformation: ["clusterinfo", "clusterinfos"],
  KubeControllersConfiguration: ["kcc", "kubecontrollersconfig"],
  IPReservation: ["ipres", "ipreservations"],
  IPAMConfiguration: ["ipamconfig", "ipamconfigs"],
  CalicoNodeStatus: ["caliconodestatus", "cns"],
};

const ALIASES: Map<string, string> = (() => {
  const m = new Map<string, string>();
  for (const [kind, { plural }] of Object.entries(KINDS)) {
    for (const a of [kind, `${kind}s`, plural, ...(SHORT[kind] ?? [])]) m.set(a.toLowerCase(), kind);
  }
  return m;
})();

/** The canonical kind for what a user typed, or undefined. */
export function resolveKind(text: string): string | undefined {
  return ALIASES.get(text.toLowerCase());
}

/** Every kind with the names `resolveKind` takes for it (lower case, canonical plural first), for help and completion. */
export function kindAliases(): { kind: string; aliases: string[] }[] {
  const out = new Map<string, string[]>();
  for (const [alias, kind] of ALIASES) {
    if (!out.has(kind)) out.set(kind, []);
    // resolveKind also takes KINDs (networkpolicys); help shows the real plural only
    if (alias !== kind.toLowerCase() && (alias !== `${kind.toLowerCase()}s` || KINDS[kind]?.plural.toLowerCase() === alias)) out.get(kind)!.push(alias);
  }
  return [...out].map(([kind, aliases]) => ({ kind, aliases: [...new Set(aliases)] }));
}
