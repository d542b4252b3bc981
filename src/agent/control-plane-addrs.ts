/**
 * The datastore's endpoints as control-plane addresses and ports (issue #19): workloads must not
 * reach the datastore the agents use, wherever it runs. From the agent's datastore URL
 * (`etcd://host:port,...`, `etcds://…`); SQLite and memory stores have no network endpoint.
 * Host names are resolved once, at start, by the injected `lookup` (an address that changes
 * later is not followed: name the etcd members by address, docs/security.md).
 */
import { parseDatastoreUrl } from "../datastore/open.js";
import { tryParseIP } from "../net/index.js";

export interface DatastoreEndpoints {
  addrs: string[];
  tcpPorts: number[];
}

/** Splits "host:port", "[v6]:port", "v6" or "host" (etcd's default port 2379). Pure. */
export function splitEndpoint(ep: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(ep);
  if (m) return { host: m[1]!, port: m[2] ? Number(m[2]) : 2379 };
  if (tryParseIP(ep)) return { host: ep, port: 2379 };
  const colon = ep.lastIndexOf(":");
  if (colon === -1) return { host: ep, port: 2379 };
  return { host: ep.slice(0, colon), port: Number(ep.slice(colon + 1)) || 2379 };
}

export async function datastoreEndpoints(url: string, lookup: (host: string) => Promise<string[]>): Promise<DatastoreEndpoints> {
  const parsed = parseDatastoreUrl(url);
  if (parsed.kind !== "etcd") return { addrs: [], tcpPorts: [] };
  const addrs = new Set<string>();
  const ports = new Set<number>();
  for (const ep of parsed.endpoints) {
    const { host, port } = splitEndpoint(ep);
    ports.add(port);
    const ip = tryParseIP(host);
    if (ip) addrs.add(ip.toString());
    else for (const a of await lookup(host)) addrs.add(tryParseIP(a)?.toString() ?? a);
  }
  return { addrs: [...addrs].sort(), tcpPorts: [...ports].sort((a, b) => a - b) };
}
