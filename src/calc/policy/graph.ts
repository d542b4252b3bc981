/**
 * The policy calculation graph: Calico's felix calc graph (`felix/calc/calc_graph.go`) for policy,
 * reduced to what tabby enforces. Datastore updates in (Calico's etcd v3 keys, JSON values),
 * dataplane events out (src/calc/policy-output.ts), through small stages with one job each:
 *
 *   onUpdate(key, value)
 *        │
 *        ▼
 *   ┌────────────┐  FelixConfiguration  ┌──────────────────┐
 *   │ Dispatcher │─────────────────────▶│ ConfigCalculator │───────────────────────────────┐
 *   │ (by kind,  │                      └──────────────────┘                               │
 *   │  decode +  │  Tier                                                                   │
 *   │  validate) │────────────────────────────────────────────────────────┐                │
 *   └────────────┘                                                        ▼                │
 *     │ │ │  │ WEP, HEP (all hosts)    ┌────────────────────┐     ┌────────────────┐       │
 *     │ │ │  ├────────────────────────▶│ LocalEndpointFilter│────▶│ PolicyResolver │──┐    │
 *     │ │ │  │                         └─────────┬──────────┘     │ (tier & policy │  │    │
 *     │ │ │  │                                   │ local eps      │  order per ep) │  │    │
 *     │ │ │  │                                   ▼                └────────────────┘  │    │
 *     │ │ │  │  NP, GNP, Profile   ┌────────────────────────┐ matches ▲               │    │
 *     │ │ │  │ ───────────────────▶│ ActiveRulesCalculator  │─────────┘               │    │
 *     │ │ │  │                     │ (label index: policy   │                         │    │
 *     │ │ │  │                     │  selectors × local eps)│                         │    │
 *     │ │ │  │                     └───────────┬────────────┘                         │    │
 *     │ │ │  │                                 │ active policies / profiles           │    │
 *     │ │ │  │                                 ▼                                      │    │
 *     │ │ │  │                     ┌────────────────────────┐  policy rules           │    │
 *     │ │ │  │                     │ RuleScanner (compile,  │────────────────────┐    │    │
 *     │ │ │  │                     │  IP set refcounts)     │                    │    │    │
 *     │ │ │  │                     └───────────┬────────────┘                    │    │    │
 *     │ │ │  │                                 │ sets active / inactive          │    │    │
 *     │ │ │  ▼                                 ▼                                 ▼    ▼    ▼
 *     │ │ │ ┌─────────────────────────────────────────────┐  members   ┌──────────────────────┐
 *     │ │ └▶│ IpSetIndex (label index: set selectors ×    │───────────▶│ EventSequencer       │─▶ flush()
 *     │ └──▶│  ALL endpoints + NetworkSets, member counts)│            │ (coalesce, order)    │
 *     └────▶└─────────────────────────────────────────────┘            └──────────────────────┘
 *      NetworkSet, GlobalNetworkSet, Profile labels
 *
 * Beside it, the ControlPlaneCalculator (control-plane.ts) follows Node, BGPConfiguration,
 * FelixConfiguration and the local endpoints, and tells the dataplane which workload traffic
 * never reaches the control plane (node addresses, ports, the workloads allowed through).
 *
 * Namespace labels: a namespaced object (WorkloadEndpoint, NetworkSet) carries
 * `projectcalico.org/namespace=<ns>` and inherits the `labelsToApply` of the Profile
 * `kns.<ns>` — what Calico's Kubernetes conversion makes of a Namespace (labels prefixed `pcns.`,
 * plus `pcns.projectcalico.org/name`) — whether or not it lists that profile, after the profiles
 * it lists; a WorkloadEndpoint with `serviceAccountName` likewise inherits `ksa.<ns>.<sa>`
 * (labels prefixed `pcsa.`) and carries `projectcalico.org/serviceaccount=<sa>`. So a
 * namespaceSelector `env == "prod"` (→ `pcns.env == "prod"`) selects the endpoints of every
 * namespace whose `kns.` profile applies `pcns.env: prod`.
 * Pure: no I/O.
 */
import type { PolicyDataplaneEvent } from "../policy-output.js";
import { ActiveRulesCalculator } from "./active-rules.js";
import { ConfigCalculator } from "./config.js";
import { ControlPlaneCalculator, type ControlPlaneOptions } from "./control-plane.js";
import { Dispatcher, LocalEndpointFilter } from "./dispatcher.js";
import { IpSetIndex } from "./ipset-index.js";
import { PolicyResolver } from "./policy-resolver.js";
import { RuleScanner } from "./rule-scanner.js";
import { EventSequencer } from "./sequencer.js";

export interface PolicyCalcGraph {
  /**
   * One datastore change: `key` in Calico's etcd v3 layout, `value` the resource as JSON text (or
   * an already-parsed object), undefined when deleted. Keys of other kinds are ignored (returns
   * false). A value that does not validate counts as a deletion. `owned` (default: true for text):
   * the object is the graph's to keep and change, as the agent's once-decoded objects are.
   */
  onUpdate(key: string, value: string | object | undefined, owned?: boolean): boolean;
  /** The initial snapshot has been delivered; the next flush releases it, ending with `in-sync`. */
  onInSync(): void;
  /** Everything that changed since the last flush, in dependency order; [] before onInSync(). */
  flush(): PolicyDataplaneEvent[];
}

/** Datastore prefixes the policy graph reads (v3 resources). */
export const POLICY_WATCHED_PREFIXES = ["/calico/resources/v3/projectcalico.org/"];

export function buildPolicyCalcGraph(hostname: string, controlPlane: ControlPlaneOptions = {}): PolicyCalcGraph {
  const sequencer = new EventSequencer();
  const dispatcher = new Dispatcher();
  const config = new ConfigCalculator(hostname, sequencer);
  const ipSets = new IpSetIndex(sequencer);
  const resolver = new PolicyResolver(sequencer);
  const scanner = new RuleScanner(ipSets, sequencer);
  const active = new ActiveRulesCalculator(scanner, resolver);
  const cp = new ControlPlaneCalculator(hostname, sequencer, controlPlane);
  const local = new LocalEndpointFilter(hostname, (key, ep) => {
    active.onEndpoint(key, ep);
    cp.onLocalEndpoint(key, ep);
  });

  for (const kind of ["WorkloadEndpoint", "HostEndpoint"] as const) {
    dispatcher.register(kind, (d) => {
      const local_ = d.value?.node === hostname;
      // The IP set index may adopt the labels object unless a local endpoint also needs it.
      ipSets.updateItem(d.key, d.value, d.value?.labels, d.value?.labelParents, d.value?.ownedLabels === true && !local_);
      local.onEndpoint(d.key, d.value);
    });
  }
  for (const kind of ["NetworkSet", "GlobalNetworkSet"] as const) {
    dispatcher.register(kind, (d) => ipSets.updateItem(d.key, d.value && { nets: d.value.nets, ports: [] }, d.value?.labels, d.value?.labelParents));
  }
  for (const kind of ["NetworkPolicy", "GlobalNetworkPolicy"] as const) {
    dispatcher.register(kind, (d) => active.onPolicy(d.id, d.value));
  }
  dispatcher.register("Profile", (d) => {
    ipSets.updateProfileLabels(d.name, d.value?.labelsToApply);
    active.onProfile(d.name, d.value);
  });
  dispatcher.register("Tier", (d) => resolver.onTier(d.name, d.value));
  dispatcher.register("FelixConfiguration", (d) => config.onFelixConfiguration(d.name, d.value));
  dispatcher.register("FelixConfiguration", (d) => cp.onFelixConfiguration(d.name, d.value));
  dispatcher.register("IPPool", (d) => config.onIPPool(d.name, d.value));
  dispatcher.register("Node", (d) => cp.onNode(d.name, d.value));
  dispatcher.register("BGPConfiguration", (d) => cp.onBGPConfiguration(d.name, d.value));

  return {
    onUpdate: (key, value, owned) => dispatcher.onUpdate(key, value, owned),
    onInSync: () => sequencer.inSync(),
    flush: () => {
      resolver.flush();
      cp.flush();
      return sequencer.flush();
    },
  };
}
