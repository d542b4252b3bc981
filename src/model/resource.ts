/**
 * The shape every Calico v3 resource shares (`apiVersion: projectcalico.org/v3`): kind,
 * metadata (name, optional namespace, labels, annotations, resourceVersion) and a spec.
 * Pure: no I/O.
 */
export const API_VERSION = "projectcalico.org/v3";

export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** The datastore revision of the last write, as a decimal string (opaque to users). */
  resourceVersion?: string;
  uid?: string;
  creationTimestamp?: string;
}

export interface Resource<K extends string = string, S = unknown> {
  apiVersion: typeof API_VERSION;
  kind: K;
  metadata: ObjectMeta;
  spec: S;
  status?: unknown;
}
