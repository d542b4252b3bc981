/**
 * `tabby bgp run -c FILE`: a standalone BGP speaker (route reflector, route server, test peer)
 * from a YAML config. Serves the control socket; on SIGTERM/SIGINT stops cleanly (Cease 6/2 to
 * every peer, which withdraws our routes from them); on SIGHUP re-reads the file. Peers take
 * `import`/`export` policy (src/bgp/policy.ts); eBGP peers without one get none (RFC 8212).
 */
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import type { CliIO } from "./command.js";
import { UsageError } from "./command.js";
import { Speaker, type PeerConfig, type OriginatedRoute } from "../bgp/speaker.js";
import { DEFAULT_CONTROL_SOCKET, serveControl } from "../bgp/control.js";

export interface BgpRunConfig {
  routerId: string;
  asNumber: number;
  clusterId?: string;
  listen?: { address: string; port?: number } | false;
  control?: string;
  peers?: PeerConfig[];
  announce?: OriginatedRoute[];
}

export function parseConfig(text: string): BgpRunConfig {
  const c = parseYaml(text) as Partial<BgpRunConfig> | null;
  if (!c || typeof c !== "object") throw new UsageError("config is not a YAML mapping");
  if (typeof c.routerId !== "string") throw new UsageError("config: routerId (dotted quad) is required");
  if (typeof c.asNumber !== "number") throw new UsageError("config: asNumber is required");
  for (const p of c.peers ?? []) {
    if (typeof p.address !== "string" || typeof p.asNumber !== "number") throw new UsageError("config: every peer needs address and asNumber");
  }
  // RFC 8212: an eBGP session with no policy configured imports and exports nothing
  const asn = c.asNumber;
  c.peers = (c.peers ?? []).map((p) => (p.asNumber === asn ? p : { ...p, import: p.import ?? [], export: p.export ?? [] }));
  return c as BgpRunConfig;
}

export async function run(argv: string[], io: CliIO): Promise<number> {
  let file: string | undefined;
  let verbose = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "-c" || a === "--config") file = argv[++i];
    else if (a === "-v" || a === "--verbose") verbose = true;
    else throw new UsageError(`unknown argument ${a}\nusage: tabby bgp run -c FILE [-v]`);
  }
  if (!file) throw new UsageError("usage: tabby bgp run -c FILE [-v]");
  const cfg = parseConfig(readFileSync(file, "utf8"));
  const speaker = new Speaker({
    routerId: cfg.routerId,
    asNumber: cfg.asNumber,
    ...(cfg.clusterId ? { clusterId: cfg.clusterId } : {}),
    // default: every address, both families (a dual-stack socket takes IPv4 as ::ffff:a.b.c.d)
    listen: cfg.listen === false ? false : { address: cfg.listen?.address ?? "::", port: cfg.listen?.port ?? 179 },
    log: (level, msg, fields) => {
      if (level === "debug" && !verbose) return;
      io.stderr.write(`${new Date().toISOString()} ${level} ${msg}${fields ? " " + JSON.stringify(fields) : ""}\n`);
    },
  });
  speaker.setPeers(cfg.peers ?? []);
  speaker.setOriginated(cfg.announce ?? []);
  await speaker.start();
  const control = await serveControl(speaker, cfg.control ?? DEFAULT_CONTROL_SOCKET);
  // SIGHUP re-reads the file and reconciles peers and announcements
  const reload = () => {
    try {
      const next = parseConfig(readFileSync(file, "utf8"));
      speaker.setPeers(next.peers ?? []);
      speaker.setOriginated(next.announce ?? []);
      io.stderr.write(`${new Date().toISOString()} info configuration reloaded\n`);
    } catch (e) {
      io.stderr.write(`${new Date().toISOString()} error reload failed: ${e instanceof Error ? e.message : String(e)}\n`);
    }
  };
  process.on("SIGHUP", reload);
  await new Promise<void>((resolve) => {
    const done = () => resolve();
    process.once("SIGTERM", done);
    process.once("SIGINT", done);
  });
  process.off("SIGHUP", reload);
  await speaker.stop("tabby bgp run stopping");
  await new Promise<void>((r) => control.close(() => r()));
  return 0;
}
