/**
 * `validateResource`: strict decoding, Calico's validation and Calico's defaults for one v3
 * resource. Every kind in VALIDATED_KINDS is checked field by field; CalicoNodeStatus (a request
 * for status tabby answers with `tabby node status` instead) is refused when written.
 * Every problem is reported, each with its field path.
 * Pure: no I/O.
 */
import { KINDS } from "./keys.js";
import { Checker, describe, isPlainObject } from "./check.js";
import { ValidationError, type FieldError, type Origin } from "./errors.js";
import { checkMetadata } from "./meta.js";
import { API_VERSION, type ObjectMeta, type Resource } from "./resource.js";
import { checkIPPoolSpec, checkIPPoolUpdate, type IPPoolSpec } from "./ippool.js";
import { checkNodeSpec } from "./node.js";
import { checkWorkloadEndpointName, checkWorkloadEndpointSpec } from "./workload-endpoint.js";
import { checkProfileSpec } from "./profile.js";
import { checkBGPConfigurationSpec, meshTtlSecurityProblem, MESH_TTL_SECURITY_ANNOTATION } from "./bgp-configuration.js";
import { checkBGPPeerSpec } from "./bgp-peer.js";
import { checkBGPFilterSpec } from "./bgp-filter.js";
import { checkTierSpec, tierNameProblem } from "./tier.js";
import { checkGlobalNetworkPolicySpec, checkNetworkPolicySpec } from "./policy.js";
import { checkNetworkSetSpec } from "./network-set.js";
import { checkHostEndpointSpec } from "./host-endpoint.js";
import { checkIPAMConfigurationSpec, checkIPReservationSpec } from "./ipam-kinds.js";
import { checkFelixConfigurationSpec } from "./felix-configuration.js";
import { checkClusterInformationSpec, checkKubeControllersConfigurationSpec } from "./cluster-kinds.js";

/** Kinds whose spec tabby validates field by field. */
export const VALIDATED_KINDS = [
  "Node",
  "IPPool",
  "WorkloadEndpoint",
  "Profile",
  "BGPConfiguration",
  "BGPPeer",
  "Tier",
  "NetworkPolicy",
  "GlobalNetworkPolicy",
  "NetworkSet",
  "GlobalNetworkSet",
  "HostEndpoint",
  "IPReservation",
  "IPAMConfiguration",
  "BGPFilter",
  "FelixConfiguration",
  "KubeControllersConfiguration",
  "ClusterInformation",
] as const;

const TOP_FIELDS = new Set(["apiVersion", "kind", "metadata", "spec", "status"]);

/** The kinds tabby knows, as registered by Calico (see src/model/keys.ts). */
export function isKnownKind(kind: string): boolean {
  return Object.hasOwn(KINDS, kind);
}

/** Collects the problems of one resource; returns the defaulted copy (meaningful only if no errors). */
export function checkResource(input: unknown, c: Checker): Resource | undefined {
  if (!isPlainObject(input)) {
    c.error("", `a resource must be an object, got ${describe(input)}`);
    return undefined;
  }
  for (const k of Object.keys(input)) if (!TOP_FIELDS.has(k)) c.error(k, "unknown field");
  if (input.apiVersion !== API_VERSION) {
    c.error("apiVersion", input.apiVersion === undefined ? `is required (${API_VERSION})` : `must be ${API_VERSION}, got ${describe(input.apiVersion)}`);
  }
  const kind = input.kind;
  if (typeof kind !== "string" || kind === "") {
    c.error("kind", kind === undefined ? "is required" : `must be a string, got ${describe(kind)}`);
    return undefined;
  }
  if (!isKnownKind(kind)) {
    c.error("kind", `unknown kind ${JSON.stringify(kind)} (known: ${Object.keys(KINDS).join(", ")})`);
    return undefined;
  }
  const namespaced = KINDS[kind]!.namespaced;
  const rawMeta = input.metadata ?? {};
  const rawSpec = input.spec ?? {};
  let spec: unknown;
  let meta: ObjectMeta | undefined;
  switch (kind) {
    case "WorkloadEndpoint": {
      const s = checkWorkloadEndpointSpec(rawSpec, c);
      meta = checkMetadata(rawMeta, c, namespaced, () => undefined);
      if (meta) {
        meta.name = checkWorkloadEndpointName(meta.name, s, c);
        // clientv3 updateLabelsForStorage: these two labels always reflect the truth.
        const labels: Record<string, string> = { ...meta.labels };
        if (meta.namespace !== undefined) labels["projectcalico.org/namespace"] = meta.namespace;
        if (s?.orchestrator !== undefined) labels["projectcalico.org/orchestrator"] = s.orchestrator;
        if (Object.keys(labels).length) meta.labels = labels;
      }
      spec = s;
      break;
    }
    default: {
      meta = checkMetadata(rawMeta, c, namespaced, kind === "Tier" ? tierNameProblem : undefined);
      const name = meta?.name ?? "";
      switch (kind) {
        case "IPPool":
          spec = checkIPPoolSpec(rawSpec, c);
          break;
        case "Node":
          spec = checkNodeSpec(rawSpec, c);
          break;
        case "Profile":
          spec = checkProfileSpec(rawSpec, c);
          break;
        case "BGPConfiguration":
          spec = checkBGPConfigurationSpec(rawSpec, c, name);
          {
            const why = meshTtlSecurityProblem(name, meta?.annotations);
            if (why) c.error(`metadata.annotations["${MESH_TTL_SECURITY_ANNOTATION}"]`, why);
          }
          break;
        case "BGPPeer":
          spec = checkBGPPeerSpec(rawSpec, c);
          break;
        case "BGPFilter":
          spec = checkBGPFilterSpec(rawSpec, c);
          break;
        case "Tier":
          spec = checkTierSpec(rawSpec, c, name);
          break;
        case "NetworkPolicy":
          spec = checkNetworkPolicySpec(rawSpec, c, name);
          break;
        case "GlobalNetworkPolicy":
          spec = checkGlobalNetworkPolicySpec(rawSpec, c, name);
          break;
        case "NetworkSet":
        case "GlobalNetworkSet":
          spec = checkNetworkSetSpec(rawSpec, c);
          break;
        case "HostEndpoint":
          spec = checkHostEndpointSpec(rawSpec, c);
          break;
        case "IPReservation":
          spec = checkIPReservationSpec(rawSpec, c);
          break;
        case "IPAMConfiguration":
          spec = checkIPAMConfigurationSpec(rawSpec, c, name);
          break;
        case "FelixConfiguration":
          spec = checkFelixConfigurationSpec(rawSpec, c);
          break;
        case "KubeControllersConfiguration":
          spec = checkKubeControllersConfigurationSpec(rawSpec, c, name);
          break;
        case "ClusterInformation":
          spec = checkClusterInformationSpec(rawSpec, c, name);
          break;
        default:
          // CalicoNodeStatus: a request that calico-node fill in BGP status; tabby does not
          if (!isPlainObject(rawSpec)) c.error("spec", `must be an object, got ${describe(rawSpec)}`);
          else if (kind === "CalicoNodeStatus")
            c.unsupported("spec", "tabby does not fill in CalicoNodeStatus objects; use `tabby node status` (or its JSON output) for a node's BGP status");
          spec = structuredClone(rawSpec);
      }
    }
  }
  if (!meta) return undefined;
  const out: Resource = { apiVersion: API_VERSION, kind, metadata: meta, spec: spec ?? {} };
  if (input.status !== undefined && input.status !== null) out.status = structuredClone(input.status);
  return out;
}

/**
 * Validates one resource and returns a new object with Calico's defaults applied. Throws
 * ValidationError (code MODEL_INVALID) listing every problem with its field path. With `stored`
 * (a reader of what is already in the datastore), values tabby does not honour are not errors:
 * the reader fails closed on them itself (a policy rule with `http` is never compiled).
 */
export function validateResource<R extends Resource = Resource>(input: unknown, origin: Origin = {}, opts: { stored?: boolean } = {}): R {
  const c = new Checker(opts.stored ? "stored" : "write");
  const r = checkResource(input, c);
  if (c.errors.length || !r) throw new ValidationError(c.errors, { ...whatOf(input), ...origin });
  return r as R;
}

/** Checks that an update of `prev` to `next` (both valid) changes no immutable field. */
export function validateUpdate(prev: Resource, next: Resource): void {
  const c = new Checker();
  if (prev.kind === "IPPool" && next.kind === "IPPool") checkIPPoolUpdate(prev.spec as IPPoolSpec, next.spec as IPPoolSpec, c);
  if (c.errors.length) throw new ValidationError(c.errors, { kind: next.kind, name: next.metadata.name, namespace: next.metadata.namespace });
}

function whatOf(input: unknown): { kind?: string; name?: string; namespace?: string } {
  if (!isPlainObject(input)) return {};
  const kind = typeof input.kind === "string" ? input.kind : undefined;
  const meta = isPlainObject(input.metadata) ? input.metadata : {};
  const name = typeof meta.name === "string" ? meta.name : undefined;
  const namespace = typeof meta.namespace === "string" && meta.namespace && kind && KINDS[kind]?.namespaced ? meta.namespace : undefined;
  return { ...(kind !== undefined ? { kind } : {}), ...(name !== undefined ? { name } : {}), ...(namespace !== undefined ? { namespace } : {}) };
}

export type { FieldError };
