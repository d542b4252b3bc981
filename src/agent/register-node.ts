/**
 * calico-node's startup duties (`node/pkg/lifecycle/startup`): write this host's Node resource
 * with its BGP addresses (merged into an existing Node, compare-and-swap), and create the
 * default IP pools when the datastore has none.
 */
import { TabbyError } from "../errors.js";
import { kindPrefix, resourceKey } from "../datastore/keys.js";
import type { Store } from "../datastore/store.js";
import { parsePrefix } from "../net/index.js";
import { randomUUID } from "node:crypto";

export interface NodeRegistration {
  nodeName: string;
  /** "addr/len" of the host's IPv4 address on the fabric (required for BGP). */
  ipv4: string;
  /** "addr/len" of the host's IPv6 address, if any. */
  ipv6?: string;
  /** This node's own AS number; the global BGPConfiguration's when unset. */
  asNumber?: number;
}

const CAS_RETRIES = 100;

export async function registerNode(store: Store, reg: NodeRegistration): Promise<{ ipv4: string; ipv6?: string }> {
  const v4 = parsePrefix(reg.ipv4);
  if (v4.family !== 4) throw new TabbyError("AGENT_BAD_ADDRESS", `--ip must be an IPv4 address/len, got ${reg.ipv4}`);
  const v6 = reg.ipv6 ? parsePrefix(reg.ipv6) : undefined;
  if (v6 && v6.family !== 6) throw new TabbyError("AGENT_BAD_ADDRESS", `--ip6 must be an IPv6 address/len, got ${reg.ipv6}`);
  const key = resourceKey("Node", reg.nodeName);
  for (let attempt = 0; attempt < CAS_RETRIES; attempt++) {
    const cur = await store.get(key);
    const obj = cur ? (JSON.parse(cur.value) as NodeObject) : newNode(reg.nodeName);
    obj.spec ??= {};
    obj.spec.bgp = { ...(obj.spec.bgp ?? {}), ipv4Address: v4.toString() };
    if (v6) obj.spec.bgp.ipv6Address = v6.toString();
    else delete obj.spec.bgp.ipv6Address;
    if (reg.asNumber !== undefined) obj.spec.bgp.asNumber = reg.asNumber;
    delete obj.metadata.resourceVersion;
    try {
      if (cur) await store.update(key, JSON.stringify(obj), { revision: cur.revision });
      else await store.create(key, JSON.stringify(obj));
      const out: { ipv4: string; ipv6?: string } = { ipv4: v4.addr.toString() };
      if (v6) out.ipv6 = v6.addr.toString();
      return out;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== "DS_CONFLICT" && code !== "DS_ALREADY_EXISTS") throw err;
    }
  }
  throw new TabbyError("AGENT_REGISTER_FAILED", `could not register node ${reg.nodeName}: too many conflicting writes`);
}

interface NodeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; resourceVersion?: string; uid?: string; creationTimestamp?: string };
  spec?: { bgp?: { ipv4Address?: string; ipv6Address?: string; asNumber?: number } & Record<string, unknown> } & Record<string, unknown>;
}

function newNode(name: string): NodeObject {
  return {
    apiVersion: "projectcalico.org/v3",
    kind: "Node",
    metadata: { name, uid: randomUUID(), creationTimestamp: new Date().toISOString() },
    spec: {},
  };
}

/**
 * Creates `default-ipv4-ippool` (and `default-ipv6-ippool` when a CIDR is given) if the
 * datastore holds no IPPool at all, as calico-node does (Calico's default IPv4 pool is
 * 192.168.0.0/16; natOutgoing on).
 */
export async function ensureDefaultPools(store: Store, pools: { ipv4?: string; ipv6?: string }): Promise<string[]> {
  const existing = await store.list(kindPrefix("IPPool"), { limit: 1 });
  if (existing.items.length > 0) return [];
  const made: string[] = [];
  for (const [name, cidr, blockSize] of [
    ["default-ipv4-ippool", pools.ipv4, 26],
    ["default-ipv6-ippool", pools.ipv6, 122],
  ] as const) {
    if (!cidr) continue;
    const pool = {
      apiVersion: "projectcalico.org/v3",
      kind: "IPPool",
      metadata: { name, uid: randomUUID(), creationTimestamp: new Date().toISOString() },
      spec: { cidr: parsePrefix(cidr, { strict: true }).toString(), blockSize, ipipMode: "Never", vxlanMode: "Never", natOutgoing: true, nodeSelector: "all()", allowedUses: ["Workload", "Tunnel"] },
    };
    try {
      await store.create(resourceKey("IPPool", name), JSON.stringify(pool));
      made.push(name);
    } catch (err) {
      if ((err as { code?: string }).code !== "DS_ALREADY_EXISTS") throw err;
    }
  }
  return made;
}
