/**
 * Configurations of the fabric lab's routers, generated from the plan (fabric-plan.ts): BIRD 2
 * (ToRs and the spine), FRR 8 (zebra + bgpd; ToRs) and tabby's own `tabby bgp run` (ToRs with
 * `installRoutes`). What every ToR does, whatever runs it:
 *
 * - towards its hosts: one session per host on the host's address (directly connected: the
 *   host's /32 is the peer of a point-to-point address), IPv4 and IPv6 routes over it (the
 *   agent's way: MP-BGP with its IPv6 address as next hop); the ToR announces itself as next
 *   hop for what it learned over eBGP and what it originates (BIRD `next hop self`, FRR
 *   `next-hop-self` and an IPv6 next hop set by route-map), so hosts get two directly connected
 *   next hops for those; in the `rack` AS model the sessions are iBGP and the ToR reflects for
 *   its rack (RFC 4456) keeping the originating host as next hop, as route reflectors do — the
 *   hosts resolve it recursively through the rack range both ToRs announce (Calico's
 *   `gateway recursive`), which gives ECMP over both ToRs again;
 *   GTSM (RFC 5082) on every host session: sent with TTL 255, only TTL 255 accepted (BIRD `ttl
 *   security on`, FRR `ttl-security hops 1`, tabby `ttlSecurity: 1`), as the hosts' BGPPeers ask;
 * - towards the spine: eBGP, one session per family on the /31 and /127 link;
 * - it announces the rack's host range (10.98.r.0/24, fd98:r::/64), so host addresses are
 *   reachable across the fabric as in any data center (a workload's traffic to addresses outside
 *   the IP pools, such as the anycast range, leaves its host masqueraded to the host's address);
 * - graceful restart off towards the spine (BIRD's `graceful restart off`, FRR's
 *   `bgp graceful-restart-disable`): a dead router's routes go at once instead of lingering as
 *   stale for its restart time, which is what a fabric that must route around a dead router wants
 *   (and what the lab's kill drills test); towards the hosts a helper only (BIRD `graceful
 *   restart aware`, FRR `neighbor X graceful-restart-helper`): a host's agent that restarts keeps
 *   its routes, and the ToR, which never claims to restart itself, is still dropped at once;
 * - with `lab up --bfd`, BFD on every session, host↔ToR and ToR↔spine (BIRD `bfd on`, FRR
 *   bfdd, tabby `bfd`);
 * - ECMP into its own kernel: BIRD `merge paths on` in the kernel protocol, FRR `maximum-paths`
 *   (eBGP and iBGP) with zebra installing the multipath routes.
 * Pure: text in, text out.
 */
import { stringify } from "yaml";
import type { FabricPlan, RouterPlan } from "./fabric-plan.js";

export interface RouterFiles {
  /** Directory of this router's files (logs, sockets). */
  dir: string;
  holdTime: number;
}

const bare = (cidr: string) => cidr.split("/")[0]!;
/** BIRD protocol names: letters, digits and underscores (and none of BIRD's keywords). */
const birdName = (s: string) => `p_${s.replace(/[^a-zA-Z0-9]/g, "_")}`;

/** The rack's host address ranges, which its ToRs announce (hosts are 10.98.r.x, fd98:r::x). */
export const rackNet4 = (r: RouterPlan) => `${r.rackIPv4!.split(".").slice(0, 3).join(".")}.0/24`;
export const rackNet6 = (r: RouterPlan) => `${r.rackIPv6!.slice(0, r.rackIPv6!.lastIndexOf("::"))}::/64`;

/** BIRD 2 configuration of a ToR or the spine. */
export function birdConfig(plan: FabricPlan, r: RouterPlan, files: RouterFiles): string {
  const hold = files.holdTime;
  const lines = [
    `# tabby lab: ${r.role} ${r.name}${r.rack ? ` (rack ${r.rack})` : ""}, AS ${r.asNumber}, AS model ${plan.asModel}; generated, do not edit`,
    `log "${files.dir}/bird.log" all;`,
    `router id ${r.routerId};`,
    "",
    "protocol device { scan time 5; }",
    "",
    "# ECMP into this namespace's kernel: routes of equal preference become one multipath route",
    "protocol kernel kernel4 { ipv4 { import none; export all; }; merge paths on; }",
    "protocol kernel kernel6 { ipv6 { import none; export all; }; merge paths on; }",
    "",
  ];
  if (plan.bfd) {
    lines.push(
      "# BFD (RFC 5880/5881) on every session: a silent path failure ends it within the detection time",
      `protocol bfd { interface "*" { min rx interval ${plan.bfd.minRx} ms; min tx interval ${plan.bfd.minTx} ms; multiplier ${plan.bfd.multiplier}; }; }`,
      "",
    );
  }
  if (r.role === "tor") {
    const ibgp = plan.asModel === "rack";
    lines.push(
      "# the rack's host addresses, reachable from the whole fabric (the hosts' /32s are connected here)",
      `protocol static rack4 { ipv4; route ${rackNet4(r)} unreachable; }`,
      `protocol static rack6 { ipv6; route ${rackNet6(r)} unreachable; }`,
      "",
    );
    lines.push(
      `# hosts: ${ibgp ? "iBGP, route-reflector clients of this ToR" : "eBGP, one AS per host"}; IPv6 rides on the IPv4 session`,
      "template bgp host {",
      `  local ${r.rackIPv4} as ${r.asNumber};`,
      "  direct;",
      `  hold time ${hold};`,
      "  connect retry time 2;",
      "  ttl security on;",
      // after an error (a hold timer expiry, BFD down) BIRD waits 60 s before it peers again by
      // default; a healed host link should come back as soon as BGP can connect
      "  error wait time 1, 10;",
      // helper for the hosts (an agent that restarts keeps its routes here), never restarting itself
      "  graceful restart aware;",
      ...(plan.bfd ? ["  bfd on;"] : []),
      ...(ibgp ? ["  rr client;", `  rr cluster id ${r.rackIPv4};`] : []),
      // rack model: routes reflected between the rack's hosts keep their originator as next hop
      // (the hosts resolve it recursively, through the rack range); the rest get this ToR
      `  ipv4 { import all; export all; next hop self${ibgp ? " ebgp" : ""}; };`,
      `  ipv6 { import all; export all; next hop self${ibgp ? " ebgp" : ""}; next hop address ${r.rackIPv6}; };`,
      "}",
    );
    for (const d of r.down) lines.push(`protocol bgp ${birdName(d.peerName)} from host { neighbor ${d.peerIPv4} as ${d.peerAs}; }`);
    lines.push("");
  }
  const links = r.role === "tor" ? [r.up!] : r.down;
  lines.push(`# ${r.role === "tor" ? "the spine" : "the ToRs"}: eBGP, one session per family on the point-to-point link`);
  for (const l of links) {
    const common = `hold time ${hold}; connect retry time 2; graceful restart off;${plan.bfd ? " bfd on; error wait time 1, 10;" : ""}`;
    lines.push(
      `protocol bgp ${birdName(`${l.peerName}_4`)} { local ${bare(l.ipv4)} as ${r.asNumber}; neighbor ${l.peerIPv4} as ${l.peerAs}; ${common} ipv4 { import all; export all; }; }`,
    );
    lines.push(
      `protocol bgp ${birdName(`${l.peerName}_6`)} { local ${bare(l.ipv6)} as ${r.asNumber}; neighbor ${l.peerIPv6} as ${l.peerAs}; ${common} ipv6 { import all; export all; }; }`,
    );
  }
  return lines.join("\n") + "\n";
}

/** FRR zebra configuration (zebra installs bgpd's routes into the namespace's kernel). */
export function zebraConfig(r: RouterPlan, files: RouterFiles): string {
  return [`! tabby lab: ${r.role} ${r.name}; generated, do not edit`, `hostname ${r.name}-zebra`, `log file ${files.dir}/zebra.log`, ""].join("\n");
}

/** FRR bgpd configuration of a ToR. */
export function frrConfig(plan: FabricPlan, r: RouterPlan, files: RouterFiles): string {
  const hold = files.holdTime;
  const ibgp = plan.asModel === "rack";
  const up = r.up!;
  const out = [
    `! tabby lab: ${r.role} ${r.name} (rack ${r.rack}), AS ${r.asNumber}, AS model ${plan.asModel}; generated, do not edit`,
    "frr defaults datacenter",
    `hostname ${r.name}`,
    `log file ${files.dir}/bgpd.log`,
    "! IPv6 routes go to the hosts over the IPv4 session: this ToR is their IPv6 next hop",
    "route-map HOSTS-V6-OUT permit 10",
    ` set ipv6 next-hop global ${r.rackIPv6}`,
    `router bgp ${r.asNumber}`,
    ` bgp router-id ${r.routerId}`,
    " no bgp ebgp-requires-policy",
    " bgp graceful-restart-disable",
    " no bgp network import-check",
    " no bgp default ipv4-unicast",
    " bgp bestpath as-path multipath-relax",
    ...(ibgp ? [` bgp cluster-id ${r.rackIPv4}`] : []),
  ];
  const neighbors = [...r.down.map((d) => ({ addr: d.peerIPv4, as: d.peerAs })), { addr: up.peerIPv4, as: up.peerAs }, { addr: up.peerIPv6, as: up.peerAs }];
  for (const n of neighbors) {
    out.push(` neighbor ${n.addr} remote-as ${n.as}`, ` neighbor ${n.addr} timers 3 ${hold}`, ` neighbor ${n.addr} timers connect 2`);
  }
  for (const d of r.down) out.push(` neighbor ${d.peerIPv4} ttl-security hops 1`);
  // graceful restart helper for the hosts only (the global disable covers the spine sessions)
  for (const d of r.down) out.push(` neighbor ${d.peerIPv4} graceful-restart-helper`);
  // BFD on the host sessions (bfdd runs beside bgpd): multiplier, receive and transmit intervals
  if (plan.bfd) for (const n of neighbors) out.push(` neighbor ${n.addr} bfd ${plan.bfd.multiplier} ${plan.bfd.minRx} ${plan.bfd.minTx}`);
  for (const fam of ["ipv4", "ipv6"] as const) {
    out.push(` address-family ${fam} unicast`);
    for (const d of r.down) {
      out.push(`  neighbor ${d.peerIPv4} activate`);
      if (ibgp) out.push(`  neighbor ${d.peerIPv4} route-reflector-client`);
      // next-hop-self (and the route-map, which FRR does not apply to reflected routes) leave
      // routes reflected between the rack's hosts with their originator as next hop
      out.push(fam === "ipv4" ? `  neighbor ${d.peerIPv4} next-hop-self` : `  neighbor ${d.peerIPv4} route-map HOSTS-V6-OUT out`);
    }
    out.push(`  network ${fam === "ipv4" ? rackNet4(r) : rackNet6(r)}`);
    out.push(`  neighbor ${fam === "ipv4" ? up.peerIPv4 : up.peerIPv6} activate`, "  maximum-paths 8", "  maximum-paths ibgp 8", " exit-address-family");
  }
  return out.join("\n") + "\n";
}

/**
 * `tabby bgp run` configuration of a ToR (routes into the kernel with `installRoutes`). tabby's
 * `nextHopSelf` applies to every route, reflected ones included, so hosts behind tabby ToRs get
 * the ToRs as next hops for their rack's routes too.
 */
export function tabbyTorConfig(plan: FabricPlan, r: RouterPlan, files: RouterFiles & { control: string }): string {
  // a fresh list each time: shared objects would come out as YAML anchors
  const accept = () => [{ action: "accept" }];
  const up = r.up!;
  return (
    `# tabby lab: ${r.role} ${r.name} (rack ${r.rack}), AS ${r.asNumber}, AS model ${plan.asModel}; generated, do not edit\n` +
    stringify({
      routerId: r.routerId,
      asNumber: r.asNumber,
      ...(plan.asModel === "rack" ? { clusterId: r.rackIPv4 } : {}),
      listen: { address: "::", port: 179 },
      control: files.control,
      installRoutes: true,
      announce: [{ prefix: rackNet4(r) }, { prefix: rackNet6(r) }],
      peers: [
        ...r.down.map((d) => ({
          address: d.peerIPv4,
          asNumber: d.peerAs,
          holdTime: files.holdTime,
          connectRetry: 2,
          localAddress: r.rackIPv4,
          localIPv6: r.rackIPv6,
          nextHopSelf: true,
          ttlSecurity: 1,
          ...(plan.asModel === "rack" ? { routeReflectorClient: true } : {}),
          ...(plan.bfd ? { bfd: { ...plan.bfd } } : {}),
          import: accept(),
          export: accept(),
        })),
        {
          address: up.peerIPv4,
          asNumber: up.peerAs,
          holdTime: files.holdTime,
          connectRetry: 2,
          families: ["ipv4"],
          localAddress: bare(up.ipv4),
          ...(plan.bfd ? { bfd: { ...plan.bfd } } : {}),
          import: accept(),
          export: accept(),
        },
        {
          address: up.peerIPv6,
          asNumber: up.peerAs,
          holdTime: files.holdTime,
          connectRetry: 2,
          families: ["ipv6"],
          localAddress: bare(up.ipv6),
          ...(plan.bfd ? { bfd: { ...plan.bfd } } : {}),
          import: accept(),
          export: accept(),
        },
      ],
    })
  );
}
