/**
 * The agent's DHCP/RA responder, wired to what the agent knows: the local WorkloadEndpoint on
 * an interface and the FelixConfiguration fields tabby adds for it (docs/vms.md):
 * `workloadDHCPDNSServers` (IPv4 and IPv6 addresses: DHCPv4 option 6, DHCPv6 option 23, RA
 * RDNSS) and `workloadDHCPDomain` (option 15). Only VMs are served: endpoints whose orchestrator
 * is `libvirt` or `openstack` (as Calico served OpenStack's); a container's addresses are set by
 * its CNI plugin, and a router advertisement on its veth would add routes it did not ask for.
 * Started after the agent is in sync; a host where the packet socket cannot be opened runs
 * without it, saying so. Shell.
 */
import type { EndpointInfo } from "../calc/host-state.js";
import { DhcpService } from "./service.js";
import { DEFAULT_RESPONDER_CONFIG, type ResponderConfig } from "./responder.js";

export interface DhcpHookDeps {
  agent: { localEndpointOn(ifname: string): EndpointInfo | undefined; localInterfaces(): string[]; workloadInterfaceSeen(ifname: string): void };
  /** The merged FelixConfiguration spec (default, then node.<name>). */
  felix(): Record<string, unknown>;
  log(level: "info" | "warn" | "debug", msg: string, fields?: Record<string, unknown>): void;
}

/** The responder's configuration from a FelixConfiguration spec (validated at apply time). Pure. */
export function responderConfig(spec: Record<string, unknown>): ResponderConfig {
  const dns = spec["workloadDHCPDNSServers"];
  const domain = spec["workloadDHCPDomain"];
  return {
    ...DEFAULT_RESPONDER_CONFIG,
    dns: Array.isArray(dns) ? dns.filter((d): d is string => typeof d === "string") : [],
    ...(typeof domain === "string" && domain !== "" ? { domain } : {}),
  };
}

/** The orchestrators whose endpoints get DHCP and RA answers. */
export const DHCP_ORCHESTRATORS: readonly string[] = ["libvirt", "openstack"];

/** True when the endpoint's workload gets DHCP and RA answers. Pure. */
export function servesEndpoint(e: Pick<EndpointInfo, "orchestrator"> | undefined): boolean {
  return !!e && DHCP_ORCHESTRATORS.includes(e.orchestrator ?? "");
}

export async function startWorkloadDhcp(d: DhcpHookDeps): Promise<DhcpService | undefined> {
  const served = (ifname: string) => {
    const e = d.agent.localEndpointOn(ifname);
    return servesEndpoint(e) ? e : undefined;
  };
  const svc = new DhcpService({
    lookup: (ifname) => {
      const e = served(ifname);
      return e ? { ipNetworks: e.ipNetworks, ...(e.mac ? { mac: e.mac } : {}) } : undefined;
    },
    interfaces: () => d.agent.localInterfaces().filter((n) => served(n) !== undefined),
    seen: (ifname) => d.agent.workloadInterfaceSeen(ifname),
    config: () => responderConfig(d.felix()),
    log: d.log,
  });
  try {
    await svc.start();
    d.log("info", "answering DHCP, DHCPv6 and router solicitations on workload interfaces");
    return svc;
  } catch (err) {
    d.log("warn", "workload DHCP/RA unavailable: cannot open a packet socket", { err: String(err) });
    return undefined;
  }
}
