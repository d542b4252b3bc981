/**
 * Endpoint status: which workload endpoints the agent has programmed (Felix's endpoint status
 * files, `/var/run/calico/endpoint-status`, which Calico's CNI plugin waits on before ADD returns).
 *
 * The agent, after every successful nftables transaction, publishes one file per workload host
 * interface in the status directory (default /run/tabby/endpoint-status): `<iface>` holding
 * `{"id": <endpoint key>, "addrs": [<sorted addresses>]}`. Until its file names the endpoint's
 * addresses, the endpoint's interface is unknown to the table, and the table drops everything on
 * it. The CNI plugin (and the Docker driver) wait for a file whose addresses are the ones just
 * assigned: a file left by an earlier workload on the same interface name never matches, since
 * IPAM does not hand out an address that is in use.
 * The directory exists only while an agent has published on this host: when it is missing, no
 * agent programs policy here and the wait is skipped. The agent's side: endpoint-status-publisher.ts.
 */
// Blocking reads of a small file: this runs in the CNI plugin's ADD, which keeps
// node:fs/promises off its path (docs/cni.md "Speed").
import { readFileSync, statSync } from "node:fs";
import type { Clock } from "../clock.js";

export interface EndpointStatusRecord {
  id: string;
  addrs: string[];
}

/** The file content for an endpoint. Pure. */
export function statusContent(r: EndpointStatusRecord): string {
  return JSON.stringify({ id: r.id, addrs: [...r.addrs].sort() }) + "\n";
}

/** True when `text` (a status file) says the endpoint with these addresses is programmed. Pure. */
export function statusMatches(text: string, addrs: readonly string[]): boolean {
  try {
    const v = JSON.parse(text) as { addrs?: unknown };
    if (!Array.isArray(v.addrs)) return false;
    const have = new Set(v.addrs);
    return addrs.length > 0 && addrs.every((a) => have.has(a));
  } catch {
    return false;
  }
}

/**
 * Waits until the status file of `iface` names `addrs`. Resolves true when it does, false when no
 * agent publishes on this host (no directory) or after `timeoutMs`.
 */
export async function waitEndpointProgrammed(
  w: { dir: string; iface: string; addrs: string[]; timeoutMs: number },
  clock: Pick<Clock, "now">,
  pollMs = 10,
): Promise<boolean> {
  const deadline = clock.now() + w.timeoutMs;
  // A plain (ref'd) timer: the plugin process must not exit while it waits.
  const sleep = () => new Promise<void>((resolve) => setTimeout(resolve, pollMs));
  for (;;) {
    try {
      if (statusMatches(readFileSync(`${w.dir}/${w.iface}`, "utf8"), w.addrs)) return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
      try {
        statSync(w.dir);
      } catch {
        return false; // no agent publishes here
      }
    }
    if (clock.now() >= deadline) return false;
    await sleep();
  }
}
