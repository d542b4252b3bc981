/**
 * BGP and BFD metrics, read from the speaker at scrape time (peerStatus(), the BFD service's
 * status()), as BIRD's and FRR's Prometheus exporters expose them: per peer its FSM state
 * (one series per RFC 4271 state, 1 for the current one), up, uptime, prefixes received,
 * accepted and advertised, UPDATEs in and out and flaps; sessions counted by state. Shared by
 * the agent and `tabby bgp run`. Nothing on the BGP hot path is instrumented: the session
 * keeps plain counters and this reads them.
 */
import { Counter, Gauge, type Registry } from "./prom.js";
import type { PeerStatus } from "../bgp/speaker.js";
import type { BfdSessionStatus } from "../bfd/service.js";

/** RFC 4271 §8.2.2 states, and tabby's "Refused" for a peering the configuration does not allow. */
export const BGP_STATES = ["Idle", "Connect", "Active", "OpenSent", "OpenConfirm", "Established"] as const;
export const BFD_STATES = ["AdminDown", "Down", "Init", "Up"] as const;

export interface BgpSources {
  peers(): (PeerStatus & { type?: string })[];
  bfd?(): BfdSessionStatus[];
}

/** A counter whose value is read from elsewhere at scrape time (prom-client counters only go up by inc). */
function readCounter<L extends string>(
  reg: Registry,
  name: string,
  help: string,
  labelNames: L[],
  read: () => { labels: Record<L, string>; value: number }[],
): Counter<L> {
  return new Counter<L>({
    name,
    help,
    labelNames,
    registers: [reg],
    collect() {
      this.reset();
      for (const r of read()) this.inc(r.labels as never, r.value);
    },
  });
}

export function registerBgpMetrics(reg: Registry, src: BgpSources): void {
  const peers = () => src.peers().filter((p) => p.state !== "Refused");
  const label = (p: PeerStatus & { type?: string }) => ({ peer: p.address, peer_as: String(p.asNumber), type: p.type ?? "explicit" });
  const peerLabels = ["peer", "peer_as", "type"] as const;
  const perPeer = (name: string, help: string, value: (p: PeerStatus) => number | undefined) =>
    new Gauge({
      name,
      help,
      labelNames: peerLabels,
      registers: [reg],
      collect() {
        this.reset();
        for (const p of peers()) {
          const v = value(p);
          if (v !== undefined) this.set(label(p), v);
        }
      },
    });
  new Gauge({
    name: "tabby_bgp_sessions",
    help: "BGP sessions by FSM state (Refused: peerings the configuration names but tabby refused)",
    labelNames: ["state"],
    registers: [reg],
    collect() {
      this.reset();
      const all = src.peers();
      for (const s of [...BGP_STATES, "Refused"]) this.set({ state: s }, all.filter((p) => p.state === s).length);
    },
  });
  new Gauge({
    name: "tabby_bgp_peer_state",
    help: "1 for the BGP session's current FSM state, 0 for the others",
    labelNames: [...peerLabels, "state"],
    registers: [reg],
    collect() {
      this.reset();
      for (const p of peers()) for (const s of BGP_STATES) this.set({ ...label(p), state: s }, p.state === s ? 1 : 0);
    },
  });
  perPeer("tabby_bgp_peer_up", "1 when the BGP session is Established", (p) => (p.established ? 1 : 0));
  perPeer("tabby_bgp_peer_uptime_seconds", "Seconds since the BGP session became Established (0 when down)", (p) => p.uptimeSeconds ?? 0);
  perPeer("tabby_bgp_peer_prefixes_received", "Prefixes the peer sent that are held now (accepted or refused on import)", (p) => p.prefixesReceived);
  perPeer("tabby_bgp_peer_prefixes_accepted", "Prefixes from the peer accepted by import policy", (p) => p.prefixesAccepted);
  perPeer("tabby_bgp_peer_prefixes_advertised", "Prefixes advertised to the peer", (p) => p.prefixesAdvertised);
  const perPeerCounter = (name: string, help: string, value: (p: PeerStatus) => number | undefined) =>
    readCounter(reg, name, help, [...peerLabels], () => peers().map((p) => ({ labels: label(p), value: value(p) ?? 0 })));
  perPeerCounter("tabby_bgp_peer_updates_received_total", "BGP UPDATE messages received from the peer", (p) => p.updatesReceived);
  perPeerCounter("tabby_bgp_peer_updates_sent_total", "BGP UPDATE messages sent to the peer", (p) => p.updatesSent);
  perPeerCounter("tabby_bgp_peer_flaps_total", "Times the Established session with the peer was lost", (p) => p.flaps);
  if (src.bfd) {
    const bfd = src.bfd;
    new Gauge({
      name: "tabby_bfd_sessions",
      help: "BFD sessions by state (RFC 5880)",
      labelNames: ["state"],
      registers: [reg],
      collect() {
        this.reset();
        const all = bfd();
        for (const s of BFD_STATES) this.set({ state: s }, all.filter((b) => b.state === s).length);
      },
    });
    new Gauge({
      name: "tabby_bfd_session_up",
      help: "1 when the BFD session with the peer is Up",
      labelNames: ["peer", "multihop"],
      registers: [reg],
      collect() {
        this.reset();
        for (const b of bfd()) this.set({ peer: b.peer, multihop: String(b.multihop) }, b.state === "Up" ? 1 : 0);
      },
    });
  }
}
