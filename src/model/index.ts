/**
 * The resource model's public API: Calico v3 kinds, validation with defaults, manifests.
 * Pure: no I/O.
 */
export * from "./resource.js";
export { ValidationError, ManifestParseError, type FieldError, type Origin } from "./errors.js";
export { validateResource, validateUpdate, isKnownKind, VALIDATED_KINDS } from "./validate.js";
export { parseManifests, toYaml, toJson, toPrintable, type ParseOptions, type PrintOptions } from "./manifest.js";
export { resolveKind } from "./kinds.js";
export { nameProblem, qualifiedNameProblem, labelValueProblem } from "./meta.js";
export type { IPPool, IPPoolSpec, EncapMode, IPPoolAllowedUse } from "./ippool.js";
export type { Node, NodeSpec, NodeBGPSpec } from "./node.js";
export {
  workloadEndpointName,
  type WorkloadEndpointIdentifiers,
  type WorkloadEndpoint,
  type WorkloadEndpointSpec,
  type WorkloadEndpointPort,
  type IPNAT,
} from "./workload-endpoint.js";
export type { Profile, ProfileSpec } from "./profile.js";
export { unenforceableCriteria, type Rule, type EntityRule, type ICMPFields, type Protocol, type Port, type HTTPMatch } from "./rules.js";
export {
  BGP_DEFAULTS,
  communityProblem,
  type BGPConfiguration,
  type BGPConfigurationSpec,
  type Community,
  type PrefixAdvertisement,
  type BGPPassword,
  type SecretKeyRef,
} from "./bgp-configuration.js";
export { parsePeerIP, type BGPPeer, type BGPPeerSpec } from "./bgp-peer.js";
export { BUILTIN_TIERS, DEFAULT_TIER, type Tier, type TierSpec } from "./tier.js";
export {
  inferPolicyTypes,
  tieredPolicyNameProblem,
  type NetworkPolicy,
  type NetworkPolicySpec,
  type GlobalNetworkPolicy,
  type GlobalNetworkPolicySpec,
  type PolicyType,
} from "./policy.js";
export type { NetworkSet, GlobalNetworkSet, NetworkSetSpec } from "./network-set.js";
export type { HostEndpoint, HostEndpointSpec, EndpointPort } from "./host-endpoint.js";
export type { IPReservation, IPReservationSpec, IPAMConfiguration, IPAMConfigurationSpec } from "./ipam-kinds.js";
