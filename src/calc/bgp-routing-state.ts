/**
 * The routing part of a host's state: what decides which routes go where (Calico's confd inputs
 * for `bird_ipam.cfg`/`bird.cfg`): BGPFilter resources, IP pools (CIDR, `disableBGPExport`,
 * `nodeSelector`, `disabled`), the BGPConfiguration fields `serviceClusterIPs`,
 * `serviceExternalIPs`, `serviceLoadBalancerIPs`, `communities` and `prefixAdvertisements`
 * (the `default` configuration's, or `node.<name>`'s for the per-node fields), and the
 * per-BGPPeer maximum-prefix knob (annotation `tabby.dev/max-prefixes`). Fed one resource at a
 * time from host-state.ts's applyKeyUpdate. A value that does not parse counts as absent, except
 * a BGPFilter: one tabby cannot read is kept as `unusable` so the peers that list it fail closed
 * (bgp-peer-policy.ts) instead of running unfiltered. Pure: no I/O.
 */
import { tryParsePrefix, type Prefix } from "../net/index.js";
import { checkBGPFilterSpec, BGP_FILTER_LISTS, type BGPFilterRule, type BGPFilterSpec } from "../model/bgp-filter.js";
import { Checker } from "../model/check.js";

export interface FilterInfo {
  name: string;
  /** The checked spec; absent when `unusable`. */
  spec?: BGPFilterSpec;
  /** Why the stored filter cannot be enforced (it failed the model's checks). */
  unusable?: string;
}

export interface PoolInfo {
  name: string;
  cidr: Prefix;
  disableBGPExport: boolean;
  disabled: boolean;
  nodeSelector: string;
}

export interface BgpConfigRouting {
  serviceClusterIPs: Prefix[];
  serviceExternalIPs: Prefix[];
  serviceLoadBalancerIPs: Prefix[];
  /** Community name → value ("aa:nn" or "a:b:c"). */
  communities: Map<string, string>;
  prefixAdvertisements: { cidr: Prefix; communities: string[] }[] | undefined;
}

export interface RoutingState {
  filters: Map<string, FilterInfo>;
  pools: Map<string, PoolInfo>;
  /** BGPConfiguration name (`default`, `node.<name>`) → its routing fields. */
  configs: Map<string, BgpConfigRouting>;
  /** BGPPeer name → its `tabby.dev/max-prefixes` annotation (absent: the default). */
  bgpPeers: Map<string, { maxPrefixes?: number }>;
}

export const MAX_PREFIXES_ANNOTATION = "tabby.dev/max-prefixes";

export function emptyRoutingState(): RoutingState {
  return { filters: new Map(), pools: new Map(), configs: new Map(), bgpPeers: new Map() };
}

type Obj = Record<string, unknown>;

/**
 * Applies one resource (undefined = deleted) of kind BGPFilter, IPPool, BGPConfiguration or
 * BGPPeer. True when the routing state may have changed.
 */
export function applyRoutingResource(rs: RoutingState, kind: string, name: string, obj: Obj | undefined): boolean {
  const spec = (obj?.["spec"] ?? {}) as Obj;
  switch (kind) {
    case "BGPFilter": {
      if (!obj) return (rs.filters.delete(name), true);
      const c = new Checker();
      const checked = checkBGPFilterSpec(spec, c);
      if (c.errors.length > 0 || !checked)
        rs.filters.set(name, { name, unusable: c.errors.map((e) => `${e.path}: ${e.message}`).join("; ") || "not an object" });
      else rs.filters.set(name, { name, spec: checked });
      return true;
    }
    case "IPPool": {
      const cidr = typeof spec["cidr"] === "string" ? tryParsePrefix(spec["cidr"]) : undefined;
      if (!obj || !cidr) return (rs.pools.delete(name), true);
      const sel = typeof spec["nodeSelector"] === "string" && spec["nodeSelector"].trim() !== "" ? spec["nodeSelector"].trim() : "all()";
      rs.pools.set(name, {
        name,
        cidr: cidr.network(),
        disableBGPExport: spec["disableBGPExport"] === true,
        disabled: spec["disabled"] === true,
        nodeSelector: sel,
      });
      return true;
    }
    case "BGPConfiguration": {
      if (!obj) return (rs.configs.delete(name), true);
      const cidrs = (v: unknown): Prefix[] =>
        Array.isArray(v)
          ? v.flatMap((x) => {
              const p = typeof (x as Obj)?.["cidr"] === "string" ? tryParsePrefix((x as Obj)["cidr"] as string) : undefined;
              return p ? [p.network()] : [];
            })
          : [];
      const communities = new Map<string, string>();
      if (Array.isArray(spec["communities"])) {
        for (const cm of spec["communities"] as Obj[])
          if (typeof cm?.["name"] === "string" && typeof cm["value"] === "string") communities.set(cm["name"], cm["value"]);
      }
      let prefixAdvertisements: BgpConfigRouting["prefixAdvertisements"];
      if (Array.isArray(spec["prefixAdvertisements"])) {
        prefixAdvertisements = [];
        for (const pa of spec["prefixAdvertisements"] as Obj[]) {
          const cidr = typeof pa?.["cidr"] === "string" ? tryParsePrefix(pa["cidr"]) : undefined;
          if (!cidr) continue;
          const list = Array.isArray(pa["communities"]) ? (pa["communities"] as unknown[]).filter((x): x is string => typeof x === "string") : [];
          prefixAdvertisements.push({ cidr: cidr.network(), communities: list });
        }
      }
      rs.configs.set(name, {
        serviceClusterIPs: cidrs(spec["serviceClusterIPs"]),
        serviceExternalIPs: cidrs(spec["serviceExternalIPs"]),
        serviceLoadBalancerIPs: cidrs(spec["serviceLoadBalancerIPs"]),
        communities,
        prefixAdvertisements,
      });
      return true;
    }
    case "BGPPeer": {
      if (!obj) return rs.bgpPeers.delete(name);
      const ann = ((obj["metadata"] as Obj | undefined)?.["annotations"] ?? {}) as Obj;
      const raw = ann[MAX_PREFIXES_ANNOTATION];
      const info: { maxPrefixes?: number } = {};
      // not a whole number: the strictest limit (1) rather than none, so a typo never lifts the guard
      if (typeof raw === "string") info.maxPrefixes = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : 1;
      rs.bgpPeers.set(name, info);
      return true;
    }
    default:
      return false;
  }
}

/** The routing fields in force on `node`: `default`'s, with `node.<node>`'s per-node fields over them. */
export function effectiveConfig(rs: RoutingState, node: string): BgpConfigRouting {
  const def = rs.configs.get("default");
  const own = rs.configs.get(`node.${node}`);
  const base: BgpConfigRouting = def ?? {
    serviceClusterIPs: [],
    serviceExternalIPs: [],
    serviceLoadBalancerIPs: [],
    communities: new Map(),
    prefixAdvertisements: undefined,
  };
  if (!own) return base;
  // Calico: communities and prefixAdvertisements of the node's own configuration win when it sets them
  const out = { ...base };
  if (own.prefixAdvertisements !== undefined) {
    out.prefixAdvertisements = own.prefixAdvertisements;
    out.communities = new Map([...base.communities, ...own.communities]);
  }
  return out;
}

export type { BGPFilterRule };
export { BGP_FILTER_LISTS };
