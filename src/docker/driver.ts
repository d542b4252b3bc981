/**
 * tabby as Docker's libnetwork remote network driver (Docker's libnetwork docs/remote.md; the
 * calls below are the ones dockerd makes), the way Calico's libnetwork plugin did it, and the
 * dispatch of every plugin call (the IPAM driver's to ipam-driver.ts).
 *
 * Network: `CreateNetwork` accepts only tabby-assigned pools and no driver options (an option
 * tabby does not implement is refused, naming it). `CreateEndpoint` notes the addresses;
 * `Join` makes the veth — host side `tab…` (hash of the endpoint id, MAC ee:ee:ee:ee:ee:ee,
 * sysctls and a /32 or /128 route per address, protocol 152, the CNI plugin's plumbing) and a
 * peer `tmp…` that dockerd moves into the container and renames `eth…` — and answers gateway
 * 169.254.1.1 (a connected static route to it) and fe80::ecee:eeff:feee:eeee, the CNI plugin's
 * addressing. The WorkloadEndpoint (orchestrator `libnetwork`, namespace `docker`, the
 * container's labels, the network's profile) is written once the container's labels are known
 * (from the engine API, see engine.ts): until then the interface is unknown to the dataplane,
 * which drops everything on it. `Leave` removes the veth and the endpoint; `DeleteEndpoint` the
 * same if still there; `DeleteNetwork` the network's profile.
 *
 * Profile: `docker.<network id, 12>` with labelsToApply `docker.network: <name>` plus the
 * network's labels (mapped by the label rules), ingress allowed from endpoints of the same
 * network, egress allowed (Calico's libnetwork profile).
 */
import type { Clock } from "../clock.js";
import { resourceKey } from "../model/keys.js";
import type { Store } from "../datastore/store.js";
import { hasCode } from "../errors.js";
import { GATEWAY_V4, HOST_VETH_LINK_LOCAL, HOST_VETH_MAC, hostVethName } from "../dataplane/links.js";
import { RT_PROTO_TABBY } from "../dataplane/routes.js";
import { applySysctls, hostSysctls, workloadSysctls, type SysctlWriter } from "../dataplane/sysctl.js";
import type { WorkloadPlumbing } from "../cni/plumbing.js";
import { hostRoutes } from "../cni/net-plugin.js";
import { hostCidr, type CniIpam } from "../cni/ipam-plugin.js";
import { mapKey, workloadLabels, type LabelRules } from "../cni/labels.js";
import { randomUid } from "../cni/uid.js";
import { API_VERSION } from "../model/resource.js";
import { DOCKER_NAMESPACE, DockerIpamDriver, parsePoolId } from "./ipam-driver.js";
import { bad, DockerPluginError, isObject, str, type Body } from "./protocol.js";

export { DOCKER_HANDLE_PREFIX, DOCKER_NAMESPACE, parsePoolId, poolId } from "./ipam-driver.js";

export const NETWORK_LABEL = "docker.network";

/** What the engine API tells about a container and a network (engine.ts). */
export interface DockerEngine {
  /** The labels of the container holding this endpoint; undefined once it gives up. */
  containerOfEndpoint(networkId: string, endpointId: string): Promise<{ id: string; name: string; labels: Record<string, string> } | undefined>;
  network(networkId: string): Promise<{ name: string; labels: Record<string, string> } | undefined>;
}

export interface DockerDriverDeps {
  store: Store;
  ipam: CniIpam;
  plumbing: WorkloadPlumbing;
  hostSysctl: SysctlWriter;
  /** Where the host's namespace is (the veth's peer is made there for dockerd to move). */
  hostNetnsPath: string;
  node: string;
  clock: Clock;
  /** The engine API; undefined: containers carry no labels of their own. */
  engine?: DockerEngine;
  labelRules: LabelRules;
  /** Waits for the agent to program the endpoint (endpoint-status.ts). */
  waitProgrammed?: (w: { iface: string; addrs: string[] }) => Promise<boolean>;
  log?: (level: string, msg: string, fields?: Record<string, unknown>) => void;
  /** The host-wide IPAM lock shared with the CNI plugin (cni/lock.ts); default none. */
  lock?: <T>(fn: () => Promise<T>) => Promise<T>;
}

export const hostIfOf = (endpointId: string) => hostVethName(`docker.${endpointId}`);
/** The peer dockerd moves into the container ("tmp" + the same hash). */
export const tempIfOf = (endpointId: string) => "tmp" + hostIfOf(endpointId).slice(3);
export const wepNameOf = (node: string, endpointId: string) =>
  [node, "libnetwork", endpointId.slice(0, 12), "eth0"].map((s) => s.replace(/-/g, "--")).join("-");
export const profileOf = (networkId: string) => `docker.${networkId.slice(0, 12)}`;

interface PendingEndpoint {
  addrs: string[];
  mac?: string;
}

export class DockerDriver {
  private readonly endpoints = new Map<string, PendingEndpoint>();
  private readonly ipamDriver: DockerIpamDriver;

  constructor(private readonly d: DockerDriverDeps) {
    this.ipamDriver = new DockerIpamDriver(d);
  }

  /** Answers one call: the path (`/NetworkDriver.Join`) and the decoded JSON body. */
  async handle(path: string, body: Body): Promise<Body> {
    switch (path) {
      case "/Plugin.Activate":
        return { Implements: ["NetworkDriver", "IpamDriver"] };
      case "/NetworkDriver.GetCapabilities":
        return { Scope: "local", ConnectivityScope: "global" };
      case "/NetworkDriver.CreateNetwork":
        return this.createNetwork(body);
      case "/NetworkDriver.DeleteNetwork":
        await this.deleteProfile(str(body, "NetworkID"));
        return {};
      case "/NetworkDriver.CreateEndpoint":
        return this.createEndpoint(body);
      case "/NetworkDriver.EndpointOperInfo":
        return { Value: {} };
      case "/NetworkDriver.Join":
        return this.join(body);
      case "/NetworkDriver.Leave":
      case "/NetworkDriver.DeleteEndpoint":
        await this.removeEndpoint(str(body, "EndpointID"));
        return {};
      case "/NetworkDriver.DiscoverNew":
      case "/NetworkDriver.DiscoverDelete":
      case "/NetworkDriver.ProgramExternalConnectivity":
      case "/NetworkDriver.RevokeExternalConnectivity":
        return {};
      case "/IpamDriver.GetCapabilities":
        return { RequiresMACAddress: false, RequiresRequestReplay: false };
      case "/IpamDriver.GetDefaultAddressSpaces":
        return { LocalDefaultAddressSpace: "tabby-local", GlobalDefaultAddressSpace: "tabby-global" };
      case "/IpamDriver.RequestPool":
        return this.ipamDriver.requestPool(body);
      case "/IpamDriver.ReleasePool":
        parsePoolId(str(body, "PoolID"));
        return {};
      case "/IpamDriver.RequestAddress":
        return this.ipamDriver.requestAddress(body);
      case "/IpamDriver.ReleaseAddress":
        return this.ipamDriver.releaseAddress(body);
      default:
        throw new DockerPluginError("CNI_DOCKER_UNSUPPORTED", `tabby does not implement ${path}`);
    }
  }

  private async createNetwork(b: Body): Promise<Body> {
    str(b, "NetworkID");
    const opts = isObject(b.Options) ? b.Options : {};
    const generic = opts["com.docker.network.generic"];
    if (isObject(generic) && Object.keys(generic).length) {
      throw bad(
        `driver options tabby does not implement: ${Object.keys(generic).join(", ")} (network labels choose the profile's labels; --ipam-opt chooses pools)`,
      );
    }
    for (const k of ["IPv4Data", "IPv6Data"] as const) {
      const list = Array.isArray(b[k]) ? (b[k] as Body[]) : [];
      for (const d of list) {
        if (d.AddressSpace !== undefined && d.AddressSpace !== "tabby-local" && d.AddressSpace !== "tabby-global") {
          throw bad(`the network's addresses must come from tabby's IPAM (--ipam-driver tabby), not address space ${JSON.stringify(d.AddressSpace)}`);
        }
      }
    }
    return {};
  }

  private async createEndpoint(b: Body): Promise<Body> {
    str(b, "NetworkID");
    const id = str(b, "EndpointID");
    const ifc = isObject(b.Interface) ? b.Interface : {};
    const addrs = [ifc.Address, ifc.AddressIPv6].filter((a): a is string => typeof a === "string" && a !== "").map(hostCidr);
    if (!addrs.length) throw bad("the endpoint has no address (use --ipam-driver tabby)");
    const mac = typeof ifc.MacAddress === "string" && ifc.MacAddress ? ifc.MacAddress : undefined;
    this.endpoints.set(id, { addrs, ...(mac ? { mac } : {}) });
    return { Interface: {} };
  }

  private async join(b: Body): Promise<Body> {
    const networkId = str(b, "NetworkID");
    const id = str(b, "EndpointID");
    const ep = this.endpoints.get(id);
    if (!ep) throw bad(`endpoint ${id} was not created by this plugin (CreateEndpoint first)`);
    const hostIf = hostIfOf(id);
    const tempIf = tempIfOf(id);
    const fams = { v4: ep.addrs.some((a) => !a.includes(":")), v6: ep.addrs.some((a) => a.includes(":")) };
    await this.d.plumbing.deleteLink(hostIf).catch(() => false);
    await this.d.plumbing.createVeth({ hostIf, hostMac: HOST_VETH_MAC, ifname: tempIf, netnsPath: this.d.hostNetnsPath });
    try {
      await applySysctls(this.d.hostSysctl, [...hostSysctls(fams), ...workloadSysctls(hostIf, fams)]);
      await this.d.plumbing.setupHost(hostIf, hostRoutes(ep.addrs), RT_PROTO_TABBY);
    } catch (e) {
      await this.d.plumbing.deleteLink(hostIf).catch(() => false);
      throw e;
    }
    // The endpoint's identity: written when the container's labels are known (dockerd creates the
    // container's record around this call); until then its traffic is dropped.
    void this.publishEndpoint(networkId, id, ep).catch((e: unknown) =>
      this.d.log?.("error", "cannot write the workload endpoint", { endpoint: id, err: String(e) }),
    );
    return {
      InterfaceName: { SrcName: tempIf, DstPrefix: "eth" },
      ...(fams.v4 ? { Gateway: GATEWAY_V4 } : {}),
      ...(fams.v6 ? { GatewayIPv6: HOST_VETH_LINK_LOCAL } : {}),
      StaticRoutes: fams.v4 ? [{ Destination: `${GATEWAY_V4}/32`, RouteType: 1, NextHop: "" }] : [],
      DisableGatewayService: true,
    };
  }

  /** Writes the network's profile and the WorkloadEndpoint; resolves once it is written (and waited for). */
  async publishEndpoint(networkId: string, endpointId: string, ep: PendingEndpoint): Promise<void> {
    let labels: Record<string, string> = {};
    let workload = endpointId.slice(0, 12);
    if (this.d.engine) {
      const c = await this.d.engine.containerOfEndpoint(networkId, endpointId);
      if (!c) {
        this.d.log?.("error", "no container found for the endpoint: it stays without a WorkloadEndpoint (its traffic is dropped)", { endpoint: endpointId });
        return;
      }
      // Image labels come along (maintainer, org.opencontainers.*): one that is not a valid label
      // is not taken, as with pod annotations; tabby's reserved prefixes are still refused.
      labels = workloadLabels({ annotations: c.labels, labels: {} }, this.d.labelRules);
      workload = c.name.replace(/^\//, "") || c.id.slice(0, 12);
    }
    const profile = await this.ensureProfile(networkId);
    const name = wepNameOf(this.d.node, endpointId);
    const now = new Date(this.d.clock.now()).toISOString().replace(/\.\d{3}Z$/, "Z");
    const wep = {
      apiVersion: API_VERSION,
      kind: "WorkloadEndpoint",
      metadata: {
        name,
        namespace: DOCKER_NAMESPACE,
        labels: { ...labels, "projectcalico.org/namespace": DOCKER_NAMESPACE, "projectcalico.org/orchestrator": "libnetwork" },
        uid: await randomUid(),
        creationTimestamp: now,
      },
      spec: {
        orchestrator: "libnetwork",
        workload,
        node: this.d.node,
        containerID: endpointId,
        endpoint: "eth0",
        interfaceName: hostIfOf(endpointId),
        mac: ep.mac ?? "",
        ipNetworks: ep.addrs,
        profiles: [profile],
      },
    };
    if (!wep.spec.mac) delete (wep.spec as { mac?: string }).mac;
    await this.d.store.put(resourceKey("WorkloadEndpoint", name, DOCKER_NAMESPACE), JSON.stringify(wep));
    this.endpoints.delete(endpointId);
    await this.d.waitProgrammed?.({ iface: hostIfOf(endpointId), addrs: ep.addrs });
  }

  private async ensureProfile(networkId: string): Promise<string> {
    const name = profileOf(networkId);
    const net = (await this.d.engine?.network(networkId)) ?? { name: networkId.slice(0, 12), labels: {} };
    const inherited: Record<string, string> = {};
    for (const [k, v] of Object.entries(net.labels)) {
      const key = mapKey(k, this.d.labelRules);
      if (key !== undefined) inherited[key] = v;
    }
    // Checked as a workload's labels are (reserved prefixes refused).
    const labelsToApply = { ...workloadLabels({ annotations: {}, labels: inherited }, { map: {} }), [NETWORK_LABEL]: net.name };
    const profile = {
      apiVersion: API_VERSION,
      kind: "Profile",
      metadata: {
        name,
        uid: await randomUid(),
        creationTimestamp: new Date(this.d.clock.now()).toISOString().replace(/\.\d{3}Z$/, "Z"),
        annotations: { "tabby.dev/docker-network-id": networkId },
      },
      spec: {
        ingress: [{ action: "Allow", source: { selector: `${NETWORK_LABEL} == '${net.name}'` } }],
        egress: [{ action: "Allow" }],
        labelsToApply,
      },
    };
    try {
      await this.d.store.create(resourceKey("Profile", name), JSON.stringify(profile));
    } catch (e) {
      if (!hasCode(e, "DS_ALREADY_EXISTS")) throw e;
    }
    return name;
  }

  private async deleteProfile(networkId: string): Promise<void> {
    try {
      await this.d.store.delete(resourceKey("Profile", profileOf(networkId)));
    } catch (e) {
      if (!hasCode(e, "DS_NOT_FOUND")) throw e;
    }
  }

  private async removeEndpoint(endpointId: string): Promise<void> {
    this.endpoints.delete(endpointId);
    await this.d.plumbing.deleteLink(hostIfOf(endpointId));
    try {
      await this.d.store.delete(resourceKey("WorkloadEndpoint", wepNameOf(this.d.node, endpointId), DOCKER_NAMESPACE));
    } catch (e) {
      if (!hasCode(e, "DS_NOT_FOUND")) throw e;
    }
  }
}
