/**
 * The routed-fabric lab's layout (`tabby lab up --topology fabric`), computed from its shape:
 * racks of hosts, each rack behind two top-of-rack routers (ToR A and B), every host dual-homed
 * to both over point-to-point veths, every ToR linked to one spine; no L2 segment is shared
 * between racks. The AS models are Calico's ("Calico over IP fabrics"):
 *
 * - `rack`: one AS per rack (65000 + r) shared by the rack's ToRs and hosts; hosts are iBGP
 *   route-reflector clients of both ToRs; ToRs run eBGP to the spine (AS 65000).
 * - `host`: one private 4-byte AS per host (4200000000 + i), eBGP to its ToRs; every ToR has an
 *   AS of its own (65000 + 10r + 1 for A, + 2 for B); the spine is AS 65000.
 *
 * Addressing (docs/lab.md draws it): a host's Node address is one /32 and one /128 used on both
 * uplinks as a point-to-point local address (`10.98.r.(10+j) peer 10.98.r.1` towards ToR A,
 * `peer 10.98.r.2` towards B); each ToR holds its rack address (10.98.r.1 or .2, fd98:r::1 or ::2)
 * on every downlink with the host as peer, so one BGPPeer per ToR (`peerIP: 10.98.r.1`,
 * `nodeSelector: rack == 'rN'`) serves every host of the rack, over a directly connected
 * session. ToR–spine links are numbered /31 (10.97.0.0/24) and /127 (fd97::/64). Pure.
 */
import { TabbyError } from "../errors.js";

export type TorKind = "bird" | "frr" | "tabby";
export type TorChoice = TorKind | "mixed";
export type AsModel = "rack" | "host";

export interface FabricShape {
  racks: number;
  /** Hosts per rack. */
  hosts: number;
  tor: TorChoice;
  asModel: AsModel;
}

export interface FabricLink {
  /** The router's side of the link (interface name, addresses with length). */
  ifname: string;
  ipv4: string;
  ipv6: string;
  /** The far side. */
  peerName: string;
  peerIfname: string;
  peerIPv4: string;
  peerIPv6: string;
  peerAs: number;
}

export interface RouterPlan {
  name: string;
  netns: string;
  kind: TorKind;
  role: "tor" | "spine";
  /** `r1`... for ToRs. */
  rack?: string;
  asNumber: number;
  routerId: string;
  /** A ToR's rack-facing address, held on every downlink (bare). */
  rackIPv4?: string;
  rackIPv6?: string;
  /** Downlinks to hosts (ToR) or to ToRs (spine). */
  down: FabricLink[];
  /** A ToR's link to the spine. */
  up?: FabricLink;
}

export interface FabricHost {
  name: string;
  rack: string;
  asNumber: number;
  /** Bare Node addresses. */
  ipv4: string;
  ipv6: string;
  /** Uplinks: to ToR A then ToR B (interface names upa, upb). */
  uplinks: { ifname: string; tor: string; torIPv4: string; torIPv6: string }[];
}

export interface FabricPlan {
  racks: number;
  hostsPerRack: number;
  tor: TorChoice;
  asModel: AsModel;
  spineAs: number;
  routers: RouterPlan[];
  hosts: FabricHost[];
  /**
   * `lab up --bfd`: BFD on every host↔ToR session (ms, count): BGPPeers with
   * `failureDetectionMode: BFDIfDirectlyConnected`, the agents' `--bfd-*` timers, BIRD
   * `protocol bfd` + `bfd on`, FRR bfdd + `neighbor X bfd`, tabby ToRs' peer `bfd`.
   */
  bfd?: { minRx: number; minTx: number; multiplier: number };
  /** The anycast addresses one workload per rack serves, and their range for BGPConfiguration. */
  anycast: { ipv4: string; ipv6: string; range4: string; range6: string };
}

export const SPINE_AS = 65000;
export const HOST_AS_BASE = 4200000000;

export const rackAs = (r: number) => SPINE_AS + r;
export const torAs = (model: AsModel, r: number, side: 1 | 2) => (model === "rack" ? rackAs(r) : SPINE_AS + 10 * r + side);

const hex = (n: number) => n.toString(16);

export function planFabric(labName: string, shape: FabricShape): FabricPlan {
  if (!Number.isInteger(shape.racks) || shape.racks < 1 || shape.racks > 8) {
    throw new TabbyError("LAB_BAD_SHAPE", `--racks must be between 1 and 8, got ${shape.racks}`);
  }
  if (!Number.isInteger(shape.hosts) || shape.hosts < 1 || shape.hosts > 20) {
    throw new TabbyError("LAB_BAD_SHAPE", `--hosts (per rack with --topology fabric) must be between 1 and 20, got ${shape.hosts}`);
  }
  if (!["bird", "frr", "tabby", "mixed"].includes(shape.tor)) throw new TabbyError("LAB_BAD_SHAPE", `--tor is bird, frr, tabby or mixed, got "${shape.tor}"`);
  if (shape.asModel !== "rack" && shape.asModel !== "host") throw new TabbyError("LAB_BAD_SHAPE", `--as-model is rack or host, got "${shape.asModel}"`);

  const spine: RouterPlan = { name: "sp1", netns: `${labName}-sp1`, kind: "bird", role: "spine", asNumber: SPINE_AS, routerId: "10.97.255.1", down: [] };
  const routers: RouterPlan[] = [];
  const hosts: FabricHost[] = [];
  let t = 0;
  for (let r = 1; r <= shape.racks; r++) {
    const rack = `r${r}`;
    const tors: RouterPlan[] = [];
    for (const side of [1, 2] as const) {
      const name = `${rack}${side === 1 ? "a" : "b"}`;
      const kind: TorKind = shape.tor === "mixed" ? (side === 1 ? "bird" : "frr") : shape.tor;
      const asNumber = torAs(shape.asModel, r, side);
      // ToR–spine /31 and /127: the spine holds the even address, the ToR the odd one
      const up: FabricLink = {
        ifname: "up-sp1",
        ipv4: `10.97.0.${2 * t + 1}/31`,
        ipv6: `fd97::${hex(2 * t + 1)}/127`,
        peerName: spine.name,
        peerIfname: `dn-${name}`,
        peerIPv4: `10.97.0.${2 * t}`,
        peerIPv6: `fd97::${hex(2 * t)}`,
        peerAs: SPINE_AS,
      };
      spine.down.push({
        ifname: up.peerIfname,
        ipv4: `${up.peerIPv4}/31`,
        ipv6: `${up.peerIPv6}/127`,
        peerName: name,
        peerIfname: up.ifname,
        peerIPv4: up.ipv4.split("/")[0]!,
        peerIPv6: up.ipv6.split("/")[0]!,
        peerAs: asNumber,
      });
      t++;
      tors.push({
        name,
        netns: `${labName}-${name}`,
        kind,
        role: "tor",
        rack,
        asNumber,
        routerId: `10.98.${r}.${side}`,
        rackIPv4: `10.98.${r}.${side}`,
        rackIPv6: `fd98:${r}::${side}`,
        down: [],
        up,
      });
    }
    for (let j = 1; j <= shape.hosts; j++) {
      const i = (r - 1) * shape.hosts + j;
      const h: FabricHost = {
        name: `h${i}`,
        rack,
        asNumber: shape.asModel === "rack" ? rackAs(r) : HOST_AS_BASE + i,
        ipv4: `10.98.${r}.${10 + j}`,
        ipv6: `fd98:${r}::${hex(10 + j)}`,
        uplinks: [],
      };
      for (const [k, tor] of tors.entries()) {
        const ifname = k === 0 ? "upa" : "upb";
        h.uplinks.push({ ifname, tor: tor.name, torIPv4: tor.rackIPv4!, torIPv6: tor.rackIPv6! });
        tor.down.push({
          ifname: `dn-${h.name}`,
          ipv4: `${tor.rackIPv4}/32`,
          ipv6: `${tor.rackIPv6}/128`,
          peerName: h.name,
          peerIfname: ifname,
          peerIPv4: h.ipv4,
          peerIPv6: h.ipv6,
          peerAs: h.asNumber,
        });
      }
      hosts.push(h);
    }
    routers.push(...tors);
  }
  routers.push(spine);
  return {
    racks: shape.racks,
    hostsPerRack: shape.hosts,
    tor: shape.tor,
    asModel: shape.asModel,
    spineAs: SPINE_AS,
    routers,
    hosts,
    anycast: { ipv4: "10.66.0.1", ipv6: "fd66::1", range4: "10.66.0.0/24", range6: "fd66::/120" },
  };
}
