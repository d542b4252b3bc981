/**
 * What IPAM offers its callers (the CNI IPAM plugin, the agent, the CLI). Calico's
 * `libcalico-go/lib/ipam` interface, reduced to what tabby uses; implemented in ./ipam.ts.
 */
export interface AssignRequest {
  /** Allocation handle, e.g. `k8s-pod-network.<containerID>`; release by it later. */
  handle: string;
  /** The host whose blocks the addresses come from. */
  node: string;
  num4: number;
  num6: number;
  /** Stored with each address (namespace, pod, node, ...). */
  attrs?: Record<string, string>;
  /** Restrict to these pools (by name or CIDR); default: all enabled pools that select the node. */
  pools?: string[];
}

export interface AssignResult {
  /** Assigned addresses as host prefixes ("10.65.1.5/32"). */
  ipv4: string[];
  ipv6: string[];
}

export interface BlockInfo {
  cidr: string;
  /** "host:<node>" or undefined. */
  affinity?: string;
  allocated: number;
  size: number;
}

export interface IpamApi {
  autoAssign(req: AssignRequest): Promise<AssignResult>;
  /** Release everything held by a handle; returns how many addresses were released (0 if none). */
  releaseByHandle(handle: string): Promise<number>;
  /** Addresses currently held by a handle. */
  addressesOfHandle(handle: string): Promise<string[]>;
  /** Blocks whose affinity is confirmed for `node` (what the node advertises over BGP). */
  blocksOfNode(node: string): Promise<BlockInfo[]>;
  /** Every block (for `tabby ipam show --show-blocks`). */
  allBlocks(): Promise<BlockInfo[]>;
}
