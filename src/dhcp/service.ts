/**
 * The agent's DHCP and router-advertisement service (issue 20): one packet socket (packet-socket.ts)
 * in the host's namespace; each request that arrives on a local workload's interface is answered
 * by responder.ts from the WorkloadEndpoint (`lookup`) and the host interface (its MAC and MTU
 * from /sys/class/net, its link-local address from /proc/net/if_inet6). A request on any other
 * interface is not answered. Shell (I/O); the answers are pure.
 */
import { readFileSync, readdirSync } from "node:fs";
import { TabbyError } from "../errors.js";
import { IP } from "../net/ip.js";
import { PacketSocket } from "./packet-socket.js";
import { type EndpointAddrs, type HostLink, type ResponderConfig, respond, unsolicitedRa } from "./responder.js";

export interface DhcpServiceDeps {
  /** The local workload endpoint on interface `ifname`, if any. */
  lookup(ifname: string): EndpointAddrs | undefined;
  config(): ResponderConfig;
  log(level: "info" | "warn" | "debug", msg: string, fields?: Record<string, unknown>): void;
  /** Told of every request that arrives on a local workload's interface (the interface exists). */
  seen?(ifname: string): void;
  /** The local workload interfaces, for the periodic unsolicited router advertisements. */
  interfaces(): string[];
  /** Unsolicited RA period (ms; default 30 s; RFC 4861 allows 4 s to 1800 s). */
  raIntervalMs?: number;
  /** Where /sys/class/net and /proc/net live (tests). */
  sys?: string;
  proc?: string;
}

export interface DhcpStats {
  answered: number;
  ignored: number;
  malformed: number;
}

/** Parses /proc/net/if_inet6: interface name → its link-local address. Pure. */
export function linkLocals(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < 6 || f[3] !== "20") continue; // scope 0x20: link
    if (!/^[0-9a-f]{32}$/i.test(f[0]!)) continue;
    out.set(f[5]!, new IP(Uint8Array.from(Buffer.from(f[0]!, "hex"))).toString());
  }
  return out;
}

export class DhcpService {
  readonly stats: DhcpStats = { answered: 0, ignored: 0, malformed: 0 };
  private sock: PacketSocket | undefined;
  private names = new Map<number, string>();
  private running: Promise<void> | undefined;
  private readonly sys: string;
  private readonly proc: string;

  constructor(private readonly deps: DhcpServiceDeps) {
    this.sys = deps.sys ?? "/sys/class/net";
    this.proc = deps.proc ?? "/proc/net";
  }

  private timer: NodeJS.Timeout | undefined;

  async start(): Promise<void> {
    this.sock = await PacketSocket.open();
    this.running = this.loop(this.sock);
    // A client that solicited before the agent ran (or whose RS was lost) still learns its router.
    this.timer = setInterval(() => {
      for (const n of this.deps.interfaces()) {
        try {
          this.announce(n);
        } catch (err) {
          this.deps.log("debug", "unsolicited RA not sent", { interface: n, err: String(err) });
        }
      }
    }, this.deps.raIntervalMs ?? 30_000);
    this.timer.unref();
  }

  /** Sends an unsolicited RA on `ifname` (a new workload interface), when it has an IPv6 address to hand out. */
  announce(ifname: string): void {
    const ep = this.deps.lookup(ifname);
    const link = ep ? this.hostLink(ifname) : undefined;
    if (!ep || !link || !this.sock) return;
    const ra = unsolicitedRa(ep, link, this.deps.config());
    if (ra) this.sock.send(link.index, ra.proto, ra.mac, ra.packet);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.sock?.close();
    await this.running;
  }

  private ifname(index: number): string | undefined {
    if (!this.names.has(index)) {
      this.names.clear();
      for (const n of readdirSync(this.sys)) {
        try {
          this.names.set(Number(readFileSync(`${this.sys}/${n}/ifindex`, "utf8").trim()), n);
        } catch {
          // went away meanwhile
        }
      }
    }
    return this.names.get(index);
  }

  private hostLink(ifname: string): (HostLink & { index: number }) | undefined {
    try {
      const read = (f: string) => readFileSync(`${this.sys}/${ifname}/${f}`, "utf8").trim();
      const ll = linkLocals(readFileSync(`${this.proc}/if_inet6`, "utf8")).get(ifname);
      return { index: Number(read("ifindex")), mac: read("address"), mtu: Number(read("mtu")), ...(ll ? { linkLocal: ll } : {}) };
    } catch {
      return undefined;
    }
  }

  private async loop(sock: PacketSocket): Promise<void> {
    for (;;) {
      const f = await sock.receive();
      if (this.sock !== sock || sock.isClosed) return;
      if (!f) continue;
      const name = this.ifname(f.ifindex);
      const ep = name ? this.deps.lookup(name) : undefined;
      const link = name && ep ? this.hostLink(name) : undefined;
      if (!name || !ep || !link) {
        this.stats.ignored++;
        continue;
      }
      this.deps.seen?.(name);
      try {
        const answers = respond({ proto: f.proto, mac: f.mac, packet: f.packet }, ep, link, this.deps.config());
        if (!answers.length) {
          this.stats.ignored++;
          this.deps.log("debug", "a request not answered", { interface: name, from: f.mac });
        }
        for (const a of answers) {
          sock.send(f.ifindex, a.proto, a.mac, a.packet);
          this.stats.answered++;
        }
        if (answers.length) this.deps.log("debug", "answered a workload's address request", { interface: name, from: f.mac });
      } catch (err) {
        if (err instanceof TabbyError && err.code === "NET_DHCP_MALFORMED") this.stats.malformed++;
        else this.deps.log("warn", "DHCP/RA responder failed", { interface: name, err: String(err) });
      }
    }
  }
}
