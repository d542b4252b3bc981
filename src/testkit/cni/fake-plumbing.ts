/**
 * An in-memory WorkloadPlumbing for tests of the plugin's logic: it keeps which host links and
 * which container interfaces exist (so "exists" and "no such device" answer as the kernel would),
 * records every call as a line, and fails the step a test names. Pure (no I/O).
 */
import { TabbyError } from "../../errors.js";
import { netlinkError } from "../../dataplane/netlink/socket.js";
import type { ContainerSetup, PlumbedRoute, WorkloadPlumbing } from "../../cni/plumbing.js";

const ERRNO = { EEXIST: 17, ENODEV: 19 } as const;

export class FakePlumbing implements WorkloadPlumbing {
  readonly lines: string[] = [];
  /** Host links by name, with their container end ("netns/ifname"). */
  readonly hostLinks = new Map<string, string>();
  /** Namespaces that exist (any path, unless a test restricts it). */
  netnsExists: (path: string) => boolean = () => true;
  /** The step that fails next, with the error it throws. */
  failOn: { step: "createVeth" | "setupContainer" | "setupHost"; error: Error } | undefined;
  /** The MAC a container interface gets when none is asked for. */
  containerMac = "aa:bb:cc:dd:ee:01";
  closed = 0;

  private fail(step: "createVeth" | "setupContainer" | "setupHost"): void {
    if (this.failOn?.step === step) throw this.failOn.error;
  }

  async createVeth(v: { hostIf: string; hostMac: string; ifname: string; netnsPath: string; mtu?: number }): Promise<void> {
    this.lines.push(`createVeth ${v.hostIf} ${v.hostMac} mtu=${v.mtu ?? "-"} peer ${v.netnsPath}/${v.ifname}`);
    if (!this.netnsExists(v.netnsPath)) throw new TabbyError("DP_NETNS_MISSING", `network namespace ${v.netnsPath}: ENOENT`);
    this.fail("createVeth");
    const peer = `${v.netnsPath}/${v.ifname}`;
    if (this.hostLinks.has(v.hostIf) || [...this.hostLinks.values()].includes(peer)) throw netlinkError(`create veth ${v.hostIf}`, ERRNO.EEXIST);
    this.hostLinks.set(v.hostIf, peer);
  }

  async setupContainer(netnsPath: string, s: ContainerSetup): Promise<{ mac: string }> {
    const routes = s.routes.map(routeText).join(", ");
    this.lines.push(
      `setupContainer ${netnsPath}/${s.ifname} mac=${s.mac ?? "-"} sysctls=[${s.sysctls.map((x) => `${x.path}=${x.value}`).join(" ")}] addrs=[${s.addrs.join(" ")}] routes=[${routes}]`,
    );
    this.fail("setupContainer");
    if (![...this.hostLinks.values()].includes(`${netnsPath}/${s.ifname}`)) throw netlinkError(`look up ${s.ifname}`, ERRNO.ENODEV, netnsPath);
    return { mac: (s.mac ?? this.containerMac).toLowerCase() };
  }

  async setupHost(hostIf: string, routes: PlumbedRoute[], protocol: number): Promise<void> {
    this.lines.push(`setupHost ${hostIf} proto=${protocol} routes=[${routes.map(routeText).join(", ")}]`);
    this.fail("setupHost");
    if (!this.hostLinks.has(hostIf)) throw netlinkError(`look up ${hostIf}`, ERRNO.ENODEV);
  }

  async deleteLink(name: string): Promise<boolean> {
    this.lines.push(`deleteLink ${name}`);
    return this.hostLinks.delete(name);
  }

  close(): void {
    this.closed++;
  }
}

function routeText(r: PlumbedRoute): string {
  return `${r.dst}${r.gateway ? ` via ${r.gateway}` : ""}${r.scope ? ` scope ${r.scope}` : ""}`;
}
