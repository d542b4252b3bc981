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
 * agent programs policy here and the wait is skipped.
 */
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
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

/** Writes the status directory: one file per programmed endpoint, stale ones removed. */
export class EndpointStatusPublisher {
  /** iface → content as last written; undefined until the directory has been read once. */
  private written: Map<string, string> | undefined;

  constructor(private readonly dir: string) {}

  async publish(endpoints: Iterable<{ iface: string; id: string; addrs: string[] }>): Promise<void> {
    if (!this.written) {
      await mkdir(this.dir, { recursive: true, mode: 0o755 });
      this.written = new Map();
      // Files of a previous run are stale until this run says otherwise.
      for (const f of await readdir(this.dir)) if (!f.startsWith(".")) this.written.set(f, "");
    }
    const want = new Map<string, string>();
    for (const e of endpoints) want.set(e.iface, statusContent(e));
    for (const [iface, text] of want) {
      if (this.written.get(iface) === text) continue;
      const tmp = `${this.dir}/.${iface}.tmp`;
      await writeFile(tmp, text, { mode: 0o644 });
      await rename(tmp, `${this.dir}/${iface}`);
      this.written.set(iface, text);
    }
    for (const iface of [...this.written.keys()]) {
      if (want.has(iface)) continue;
      await rm(`${this.dir}/${iface}`, { force: true });
      this.written.delete(iface);
    }
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
      if (statusMatches(await readFile(`${w.dir}/${w.iface}`, "utf8"), w.addrs)) return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
      try {
        await stat(w.dir);
      } catch {
        return false; // no agent publishes here
      }
    }
    if (clock.now() >= deadline) return false;
    await sleep();
  }
}
