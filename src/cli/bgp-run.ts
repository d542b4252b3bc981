/**
 * `tabby bgp run -c FILE`: a standalone BGP speaker (route reflector, route server, test peer)
 * from a YAML config. Serves the control socket; on SIGTERM/SIGINT stops cleanly (Cease 6/2 to
 * every peer, which withdraws our routes from them); on SIGHUP re-reads the file. Peers take
 * `import`/`export` policy (src/bgp/policy.ts); eBGP peers without one get none (RFC 8212).
 * With `installRoutes: true` the best learned routes go into the kernel FIB (protocol 152) and
 * are removed again on a clean stop.
 * With `gracefulRestart` in the config it is a restarting-capable speaker (RFC 4724): SIGUSR2
 * stops without NOTIFICATIONs (peers keep our routes), and `--restarting` (-R) marks the next
 * start as the restart (R bit; selection deferred until the peers' End-of-RIB).
 */
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import type { CliIO } from "./command.js";
import { UsageError } from "./command.js";
import { Speaker, type PeerConfig, type OriginatedRoute, type GracefulRestartOptions } from "../bgp/speaker.js";
import { DEFAULT_CONTROL_SOCKET, serveControl } from "../bgp/control.js";
import { FibInstaller } from "../dataplane/fib-installer.js";
import { ExecRunner } from "../dataplane/exec.js";
import { systemClock } from "../clock.js";

export interface BgpRunConfig {
  routerId: string;
  asNumber: number;
  clusterId?: string;
  listen?: { address: string; port?: number } | false;
  control?: string;
  peers?: PeerConfig[];
  announce?: OriginatedRoute[];
  /** Install the best learned routes into this namespace's kernel FIB (protocol 152). Default false. */
  installRoutes?: boolean;
  /** Graceful restart as a restarting speaker (RFC 4724); `true` for the defaults. */
  gracefulRestart?: Omit<GracefulRestartOptions, "restarting"> | boolean;
}

export function parseConfig(text: string): BgpRunConfig {
  const c = parseYaml(text) as Partial<BgpRunConfig> | null;
  if (!c || typeof c !== "object") throw new UsageError("config is not a YAML mapping");
  if (typeof c.routerId !== "string") throw new UsageError("config: routerId (dotted quad) is required");
  if (typeof c.asNumber !== "number") throw new UsageError("config: asNumber is required");
  for (const p of c.peers ?? []) {
    if (typeof p.address !== "string" || typeof p.asNumber !== "number") throw new UsageError("config: every peer needs address and asNumber");
    if (p.nextHopSelf !== undefined && typeof p.nextHopSelf !== "boolean") throw new UsageError(`config: peer ${p.address}: nextHopSelf is true or false`);
    for (const [k, min] of [["keepaliveTime", 1], ["allowOwnAs", 0], ["maxPrefixes", 1]] as const) {
      const v = p[k];
      if (v !== undefined && (!Number.isInteger(v) || v < min)) throw new UsageError(`config: peer ${p.address}: ${k} is a whole number of at least ${min}`);
    }
  }
  if (c.installRoutes !== undefined && typeof c.installRoutes !== "boolean") throw new UsageError("config: installRoutes is true or false");
  const gr = c.gracefulRestart;
  if (gr !== undefined && typeof gr !== "boolean") {
    if (typeof gr !== "object" || gr === null) throw new UsageError("config: gracefulRestart is true, false or a mapping");
    for (const k of Object.keys(gr)) {
      if (!["restartTime", "selectionDeferralTime", "preserveForwarding"].includes(k)) throw new UsageError(`config: gracefulRestart: unknown key ${k}`);
    }
  }
  // RFC 8212: an eBGP session with no policy configured imports and exports nothing
  const asn = c.asNumber;
  c.peers = (c.peers ?? []).map((p) => (p.asNumber === asn ? p : { ...p, import: p.import ?? [], export: p.export ?? [] }));
  return c as BgpRunConfig;
}

export async function run(argv: string[], io: CliIO): Promise<number> {
  let file: string | undefined;
  let verbose = false;
  let restarting = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "-c" || a === "--config") file = argv[++i];
    else if (a === "-v" || a === "--verbose") verbose = true;
    else if (a === "-R" || a === "--restarting") restarting = true;
    else throw new UsageError(`unknown argument ${a}\nusage: tabby bgp run -c FILE [-v] [-R]`);
  }
  if (!file) throw new UsageError("usage: tabby bgp run -c FILE [-v] [-R]");
  const cfg = parseConfig(readFileSync(file, "utf8"));
  const grCfg = cfg.gracefulRestart === true ? {} : cfg.gracefulRestart || undefined;
  if (restarting && !grCfg) throw new UsageError("--restarting needs gracefulRestart in the config");
  const log = (level: string, msg: string, fields?: Record<string, unknown>) => {
    if (level === "debug" && !verbose) return;
    io.stderr.write(`${new Date().toISOString()} ${level} ${msg}${fields ? " " + JSON.stringify(fields) : ""}\n`);
  };
  const speaker = new Speaker({
    routerId: cfg.routerId,
    asNumber: cfg.asNumber,
    ...(cfg.clusterId ? { clusterId: cfg.clusterId } : {}),
    ...(grCfg ? { gracefulRestart: { ...grCfg, restarting } } : {}),
    // default: every address, both families (a dual-stack socket takes IPv4 as ::ffff:a.b.c.d)
    listen: cfg.listen === false ? false : { address: cfg.listen?.address ?? "::", port: cfg.listen?.port ?? 179 },
    log,
  });
  // installRoutes: learned best paths into the kernel, as the agent does (it is read at start only)
  const fib = cfg.installRoutes ? new FibInstaller(new ExecRunner(), systemClock, log) : undefined;
  if (fib) speaker.onFibChange((changes) => fib.onChanges(changes));
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
  const how = await new Promise<"stop" | "restart">((resolve) => {
    process.once("SIGTERM", () => resolve("stop"));
    process.once("SIGINT", () => resolve("stop"));
    // graceful restart: leave without NOTIFICATIONs so helpers keep our routes
    if (grCfg) process.once("SIGUSR2", () => resolve("restart"));
  });
  process.off("SIGHUP", reload);
  if (how === "restart") {
    io.stderr.write(`${new Date().toISOString()} info stopping for a graceful restart\n`);
    await speaker.stopForRestart();
    await fib?.flush(); // the installed routes stay: forwarding goes on through the restart
  } else {
    await speaker.stop("tabby bgp run stopping");
    await fib?.removeAll(); // nothing backs them any more
  }
  await new Promise<void>((r) => control.close(() => r()));
  return 0;
}
