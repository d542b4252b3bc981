/**
 * Workload → control-plane isolation (tabby's own; issue #19, part 1). A workload is untrusted
 * code: it must not speak BGP or BFD to any node, nor reach the datastore or the agent, however
 * permissive its policy — otherwise a workload on a host whose agent is down can open BGP to a
 * neighbour, be masqueraded to its host's address by natOutgoing, and be taken for that host.
 * This stage computes what the dataplane drops (ControlPlaneUpdate, src/calc/policy-output.ts):
 *
 *   - nodeAddrs: every Node's addresses (BGP, `addresses`, tunnel, WireGuard), reference-free:
 *     a Node update replaces that node's list; natOutgoing also never masquerades to them;
 *   - otherAddrs: the workload gateways and the datastore's endpoints (given by the agent);
 *   - ports: TCP 179 and every BGPConfiguration `listenPort` (default and `node.<name>`: another
 *     node may listen elsewhere), the agent's own BGP port, etcd 2379/2380 and the datastore's
 *     port, the agent's health/metrics ports 9091/9099; UDP BFD 3784, 3785, 4784, 4785;
 *   - openInterfaces: the local workloads FelixConfiguration `workloadControlPlaneAccessSelector`
 *     (`default`, overridden by `node.<hostname>`) selects, matched against the endpoint's own
 *     labels (with `projectcalico.org/namespace`, `…/orchestrator`, `…/serviceaccount`; not
 *     labels inherited from profiles). A selector that does not parse selects nothing.
 *
 * Changes are collected and the update computed once per flush (the initial snapshot is one
 * update, not one per endpoint). Pure: no I/O.
 */
import { parseSelector, type Selector } from "../../selector/index.js";
import { WORKLOAD_GATEWAY4, WORKLOAD_GATEWAY6, controlPlanePorts, type ControlPlaneUpdate } from "../policy-output.js";
import type { EndpointData } from "./decode.js";
import type { DataplaneSink } from "./sequencer.js";

/** The FelixConfiguration field naming the workloads that may reach the control plane. */
export const ACCESS_SELECTOR_FIELD = "workloadControlPlaneAccessSelector";

export interface ControlPlaneOptions {
  /** Addresses of the datastore's endpoints (the agent's `--datastore` URL). */
  datastoreAddrs?: string[];
  /** TCP ports this agent serves or uses beyond the defaults (its BGP port, the datastore's). */
  extraTcpPorts?: number[];
}

export class ControlPlaneCalculator {
  private readonly nodes = new Map<string, string[]>();
  private readonly listenPorts = new Map<string, number>();
  private global: string | undefined;
  private node: string | undefined;
  private selectorText: string | undefined;
  private selector: Selector | undefined;
  private readonly locals = new Map<string, EndpointData>();
  private dirty = true;

  constructor(
    private readonly hostname: string,
    private readonly sink: DataplaneSink,
    private readonly opts: ControlPlaneOptions = {},
  ) {}

  onNode(name: string, value: { addrs: string[] } | undefined): void {
    const old = this.nodes.get(name);
    if (value) this.nodes.set(name, value.addrs);
    else this.nodes.delete(name);
    if (old?.join() !== value?.addrs.join()) this.dirty = true;
  }

  onBGPConfiguration(name: string, value: { listenPort?: number } | undefined): void {
    const old = this.listenPorts.get(name);
    if (value?.listenPort !== undefined) this.listenPorts.set(name, value.listenPort);
    else this.listenPorts.delete(name);
    if (old !== value?.listenPort) this.dirty = true;
  }

  onFelixConfiguration(name: string, spec: Record<string, unknown> | undefined): void {
    const v = spec?.[ACCESS_SELECTOR_FIELD];
    const text = typeof v === "string" && v.trim() !== "" ? v : undefined;
    if (name === "default") this.global = text;
    else if (name === `node.${this.hostname}`) this.node = text;
    else return;
    const want = this.node ?? this.global;
    if (want === this.selectorText) return;
    this.selectorText = want;
    try {
      this.selector = want === undefined ? undefined : parseSelector(want);
    } catch {
      this.selector = undefined; // fail closed: the model refuses such a value on write
    }
    this.dirty = true;
  }

  /** A local endpoint (LocalEndpointFilter's output); host endpoints are not workloads. */
  onLocalEndpoint(key: string, ep: EndpointData | undefined): void {
    if (ep && ep.kind === "wep") this.locals.set(key, ep);
    else if (!this.locals.delete(key)) return;
    if (this.selector) this.dirty = true;
  }

  flush(): void {
    if (!this.dirty) return;
    this.dirty = false;
    const nodeAddrs = new Set<string>();
    for (const l of this.nodes.values()) for (const a of l) nodeAddrs.add(a);
    const open = new Set<string>();
    if (this.selector) for (const ep of this.locals.values()) if (this.selector.matches(ep.labels)) open.add(ep.iface);
    const u: ControlPlaneUpdate = {
      kind: "control-plane-update",
      nodeAddrs: [...nodeAddrs].sort(),
      otherAddrs: [WORKLOAD_GATEWAY4, WORKLOAD_GATEWAY6, ...(this.opts.datastoreAddrs ?? [])],
      ports: controlPlanePorts(this.listenPorts.values(), this.opts.extraTcpPorts ?? []),
      openInterfaces: [...open].sort(),
    };
    this.sink.controlPlaneUpdated(u);
  }
}
