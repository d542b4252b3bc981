/**
 * `tabby bgp run -c FILE`: a standalone BGP speaker (route reflector, route server, test peer)
 * from a YAML config. Serves the control socket; on SIGTERM/SIGINT stops cleanly (Cease 6/2 to
 * every peer, which withdraws our routes from them); on SIGHUP re-reads the file. Peers take
 * `import`/`export` policy (src/bgp/policy.ts); eBGP peers without one get none (RFC 8212).
 * With `installRoutes: true` the best learned routes go into the kernel FIB (protocol 152), next
 * hops off the connected networks resolved recursively, and are removed again on a clean stop.
 * Peers with `bfd: true` or `bfd: {minRx, minTx, multiplier, multihop}` get a BFD session
 * (src/bfd/, RFC 5880/5881/5883) that resets the BGP session at once when the path fails.
 * With `gracefulRestart` in the config it is a restarting-capable speaker (RFC 4724): SIGUSR2
 * stops without NOTIFICATIONs (peers keep our routes), and `--restarting` (-R) marks the next
 * start as the restart (R bit; selection deferred until the peers' End-of-RIB).
 * `metrics: {address, port}` serves Prometheus metrics (BGP, BFD, process) on /metrics
 * (default 127.0.0.1:9091; docs/observability.md).
 */
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import type { CliIO } from "./command.js";
import { UsageError } from "./command.js";
import { Speaker, type PeerConfig, type OriginatedRoute, type GracefulRestartOptions } from "../bgp/speaker.js";
import { DEFAULT_CONTROL_SOCKET, serveControl } from "../bgp/control.js";
import { FibInstaller } from "../dataplane/fib-installer.js";
import { RouteTable } from "../dataplane/routes.js";
import { ExecRunner } from "../dataplane/exec.js";
import { systemClock } from "../clock.js";
import { BfdService, BFD_DEFAULTS, validateOptions } from "../bfd/service.js";
import { UdpTransport } from "../bfd/udp.js";
import { hasCode } from "../errors.js";
import { isIP } from "node:net";
import type { Server } from "node:http";
import { speakerRegistry } from "../metrics/speaker-metrics.js";
import { serveHttp } from "../metrics/http.js";
import { DEFAULT_METRICS_PORT } from "../health/config.js";
import { startMemoryReducer } from "../bgp/memory-reducer.js";

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
  /** Prometheus metrics on http://address:port/metrics (address default 127.0.0.1, port 9091); absent: off. */
  metrics?: { address?: string; port?: number };
}

export function parseConfig(text: string): BgpRunConfig {
  const c = parseYaml(text) as Partial<BgpRunConfig> | null;
  if (!c || typeof c !== "object") throw new UsageError("config is not a YAML mapping");
  if (typeof c.routerId !== "string") throw new UsageError("config: routerId (dotted quad) is required");
  if (typeof c.asNumber !== "number") throw new UsageError("config: asNumber is required");
  for (const p of c.peers ?? []) {
    if (typeof p.address !== "string" || typeof p.asNumber !== "number") throw new UsageError("config: every peer needs address and asNumber");
    if (p.nextHopSelf !== undefined && typeof p.nextHopSelf !== "boolean") throw new UsageError(`config: peer ${p.address}: nextHopSelf is true or false`);
    parseBfd(p);
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
  const m = c.metrics as unknown;
  if (m !== undefined) {
    if (typeof m !== "object" || m === null || Array.isArray(m)) throw new UsageError("config: metrics is a mapping {address, port}");
    for (const [k, v] of Object.entries(m)) {
      if (k === "address") {
        if (typeof v !== "string" || isIP(v) === 0) throw new UsageError(`config: metrics: address must be an IP address, got ${JSON.stringify(v)}`);
      } else if (k === "port") {
        if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > 65535) throw new UsageError(`config: metrics: port must be 1-65535, got ${JSON.stringify(v)}`);
      } else throw new UsageError(`config: metrics: unknown key ${k}`);
    }
  }
  // RFC 8212: an eBGP session with no policy configured imports and exports nothing
  const asn = c.asNumber;
  c.peers = (c.peers ?? []).map((p) => (p.asNumber === asn ? p : { ...p, import: p.import ?? [], export: p.export ?? [] }));
  return c as BgpRunConfig;
}

/** `bfd: true` (FRR's defaults: 300 ms, 300 ms, 3), `false`, or a mapping of the fields to change. */
function parseBfd(p: PeerConfig): void {
  const b: unknown = p.bfd;
  if (b === undefined || b === false) {
    delete p.bfd;
    return;
  }
  if (b === true) {
    p.bfd = { ...BFD_DEFAULTS };
    return;
  }
  if (typeof b !== "object" || b === null || Array.isArray(b)) throw new UsageError(`config: peer ${p.address}: bfd is true, false or a mapping`);
  for (const k of Object.keys(b)) {
    if (!["minRx", "minTx", "multiplier", "multihop", "auth"].includes(k)) throw new UsageError(`config: peer ${p.address}: bfd: unknown key ${k}`);
  }
  const auth: unknown = (b as { auth?: unknown }).auth;
  if (auth !== undefined) {
    if (typeof auth !== "object" || auth === null || Array.isArray(auth)) throw new UsageError(`config: peer ${p.address}: bfd: auth is a mapping {type, keyId, key}`);
    for (const k of Object.keys(auth)) {
      if (!["type", "keyId", "key"].includes(k)) throw new UsageError(`config: peer ${p.address}: bfd: auth: unknown key ${k}`);
    }
  }
  const o = { ...BFD_DEFAULTS, ...(b as object) } as NonNullable<PeerConfig["bfd"]>;
  if (o.multihop !== undefined && typeof o.multihop !== "boolean") throw new UsageError(`config: peer ${p.address}: bfd: multihop is true or false`);
  try {
    validateOptions(o);
  } catch (e) {
    if (hasCode(e, "BFD_CONFIG")) throw new UsageError(`config: peer ${p.address}: ${(e as Error).message}`);
    throw e;
  }
  p.bfd = o;
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
  // BFD: sockets open only when a peer asks for it
  const bfd = new BfdService(new UdpTransport({ log }), { log });
  const speaker = new Speaker({
    failureDetector: bfd,
    routerId: cfg.routerId,
    asNumber: cfg.asNumber,
    ...(cfg.clusterId ? { clusterId: cfg.clusterId } : {}),
    ...(grCfg ? { gracefulRestart: { ...grCfg, restarting } } : {}),
    // default: every address, both families (a dual-stack socket takes IPv4 as ::ffff:a.b.c.d)
    listen: cfg.listen === false ? false : { address: cfg.listen?.address ?? "::", port: cfg.listen?.port ?? 179 },
    log,
  });
  // installRoutes: learned best paths into the kernel, as the agent does (it is read at start only)
  // next hops off the connected networks resolve recursively through the other learned routes
  const fibRunner = new ExecRunner();
  const fibTable = new RouteTable(fibRunner);
  const fib = cfg.installRoutes ? new FibInstaller(fibRunner, systemClock, log, 20, { connected: () => fibTable.connected({ v6Routes: false }) }) : undefined;
  if (fib) speaker.onFibChange((changes) => fib.onChanges(changes));
  speaker.setPeers(cfg.peers ?? []);
  speaker.setOriginated(cfg.announce ?? []);
  await speaker.start();
  // a burst's young generation back once idle (docs/benchmarks.md "Memory like BIRD's")
  const stopReducer = startMemoryReducer({ log });
  const answerable = {
    peerStatus: () => speaker.peerStatus(),
    routes: (f?: "ipv4" | "ipv6") => speaker.routes(f),
    requestRefresh: (peer?: string, f?: "ipv4" | "ipv6") => speaker.requestRefresh(peer, f),
    bfdStatus: () => bfd.status(),
  };
  const control = await serveControl(answerable, cfg.control ?? DEFAULT_CONTROL_SOCKET);
  let metricsServer: Server | undefined;
  if (cfg.metrics) {
    const reg = speakerRegistry({ peers: () => speaker.peerStatus(), bfd: () => bfd.status() });
    const host = cfg.metrics.address ?? "127.0.0.1";
    const port = cfg.metrics.port ?? DEFAULT_METRICS_PORT;
    metricsServer = await serveHttp(host, port, { metrics: { contentType: reg.contentType, render: () => reg.metrics() } });
    log("info", "serving metrics", { address: `${host.includes(":") ? `[${host}]` : host}:${port}` });
  }
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
  stopReducer();
  if (how === "restart") {
    io.stderr.write(`${new Date().toISOString()} info stopping for a graceful restart\n`);
    await speaker.stopForRestart();
    await fib?.flush(); // the installed routes stay: forwarding goes on through the restart
  } else {
    await speaker.stop("tabby bgp run stopping");
    await fib?.removeAll(); // nothing backs them any more
  }
  await bfd.close();
  await new Promise<void>((r) => control.close(() => r()));
  metricsServer?.close();
  return 0;
}
