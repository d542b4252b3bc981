/**
 * calico-node's startup duties (`node/pkg/lifecycle/startup`): write this host's Node resource
 * with its BGP addresses (merged into an existing Node, compare-and-swap), and create the
 * default IP pools when the datastore has none.
 */
import { TabbyError } from "../errors.js";
import type { Store } from "../datastore/store.js";
import { ResourceClient } from "../datastore/resource-client.js";
// Straight from the modules, not the model/index.js barrel: that one loads the YAML manifest
// code (and the yaml package), which an agent never needs (issue #15, idle memory).
import { API_VERSION } from "../model/resource.js";
import type { IPPool, Node } from "../model/index.js";
import { parsePrefix } from "../net/index.js";

export interface NodeRegistration {
  nodeName: string;
  /** "addr/len" of the host's IPv4 address on the fabric; an IPv6-only host has none (then ipv6 is required). */
  ipv4?: string;
  /** "addr/len" of the host's IPv6 address, if any. */
  ipv6?: string;
  /** This node's own AS number; the global BGPConfiguration's when unset. */
  asNumber?: number;
}

const CAS_RETRIES = 100;

export async function registerNode(store: Store, reg: NodeRegistration): Promise<{ ipv4?: string; ipv6?: string }> {
  const v4 = reg.ipv4 ? parsePrefix(reg.ipv4) : undefined;
  if (v4 && v4.family !== 4) throw new TabbyError("AGENT_BAD_ADDRESS", `--ip must be an IPv4 address/len, got ${reg.ipv4}`);
  const v6 = reg.ipv6 ? parsePrefix(reg.ipv6) : undefined;
  if (v6 && v6.family !== 6) throw new TabbyError("AGENT_BAD_ADDRESS", `--ip6 must be an IPv6 address/len, got ${reg.ipv6}`);
  if (!v4 && !v6) throw new TabbyError("AGENT_NO_ADDRESS", `node ${reg.nodeName} needs an IPv4 or an IPv6 address for BGP`);
  const client = new ResourceClient(store);
  for (let attempt = 0; attempt < CAS_RETRIES; attempt++) {
    const cur = await client.get<Node>("Node", reg.nodeName);
    const node: Node = cur ?? { apiVersion: API_VERSION, kind: "Node", metadata: { name: reg.nodeName }, spec: {} };
    const bgp = { ...(node.spec.bgp ?? {}) };
    if (v4) bgp.ipv4Address = v4.toString();
    else delete bgp.ipv4Address;
    if (v6) bgp.ipv6Address = v6.toString();
    else delete bgp.ipv6Address;
    if (reg.asNumber !== undefined) bgp.asNumber = reg.asNumber;
    node.spec = { ...node.spec, bgp };
    try {
      if (cur)
        await client.update(node); // compare-and-swap on metadata.resourceVersion
      else await client.create(node);
      return { ...(v4 ? { ipv4: v4.addr.toString() } : {}), ...(v6 ? { ipv6: v6.addr.toString() } : {}) };
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== "DS_CONFLICT" && code !== "DS_ALREADY_EXISTS") throw err;
    }
  }
  throw new TabbyError("AGENT_REGISTER_FAILED", `could not register node ${reg.nodeName}: too many conflicting writes`);
}

/**
 * Creates `default-ipv4-ippool` (and `default-ipv6-ippool` when a CIDR is given) if the
 * datastore holds no IPPool at all, as calico-node does (Calico's default IPv4 pool is
 * 192.168.0.0/16 with natOutgoing on).
 */
export async function ensureDefaultPools(store: Store, pools: { ipv4?: string; ipv6?: string }): Promise<string[]> {
  const client = new ResourceClient(store);
  if ((await client.list("IPPool")).items.length > 0) return [];
  const made: string[] = [];
  for (const [name, cidr] of [
    ["default-ipv4-ippool", pools.ipv4],
    ["default-ipv6-ippool", pools.ipv6],
  ] as const) {
    if (!cidr) continue;
    const pool: IPPool = {
      apiVersion: API_VERSION,
      kind: "IPPool",
      metadata: { name },
      spec: { cidr: parsePrefix(cidr, { strict: true }).toString(), natOutgoing: true },
    };
    try {
      await client.create(pool);
      made.push(name);
    } catch (err) {
      if ((err as { code?: string }).code !== "DS_ALREADY_EXISTS") throw err;
    }
  }
  return made;
}
