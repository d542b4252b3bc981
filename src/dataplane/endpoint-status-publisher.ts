/**
 * The agent's side of the endpoint status (endpoint-status.ts): after every successful nftables
 * transaction, one file per programmed workload interface, written under a temporary name and
 * renamed; files of endpoints no longer programmed (and a previous run's) removed.
 */
import { mkdir, readdir, rename, rm, writeFile } from "node:fs/promises";
import { statusContent } from "./endpoint-status.js";

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
