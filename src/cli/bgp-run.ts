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
import type { CliIO } from "./command.js";
import { parseCommandLine } from "./parse.js";
import { flushStartCache } from "./compile-cache.js";
import { UsageError } from "./command.js";
import { Speaker } from "../bgp/speaker.js";
import { DEFAULT_CONTROL_SOCKET, serveControl } from "../bgp/control.js";
import { systemClock } from "../clock.js";
import type { BfdWorker } from "../bfd/worker-client.js";
import type { FailureDetector, PeerConfig } from "../bgp/speaker.js";
import { TabbyError } from "../errors.js";
import type { Server } from "node:http";
import { startMemoryReducer } from "../bgp/memory-reducer.js";
// The metrics (prom-client, node:http), the kernel route installer and BFD (its service, sockets
// and node:crypto) are loaded only when the config turns them on: a reflector without them does not carry them (docs/benchmarks.md
// "Reflector memory"; src/cli/lazy-load.test.ts checks what a plain speaker loads).

import { parseConfig } from "./bgp-run-config.js";
export { parseConfig, type BgpRunConfig } from "./bgp-run-config.js";

/** The config file's text; a file that cannot be read is CLI_CONFIG naming it. */
function readConfigText(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    throw new TabbyError(
      "CLI_CONFIG",
      `cannot read the config ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      { file },
      { cause: err },
    );
  }
}

type Log = (level: string, msg: string, fields?: Record<string, unknown>) => void;

/**
 * BFD for the peers that ask for it: the service (src/bfd/) is loaded, and its worker thread and
 * sockets started, with the first config (at start or on SIGHUP) that has a `bfd` peer; until
 * then there are no BFD sessions to report.
 */
class LazyBfd implements FailureDetector {
  private service: BfdWorker | undefined;
  constructor(
    private readonly log: Log,
    private readonly debug: boolean,
  ) {}

  async ensure(peers: readonly PeerConfig[]): Promise<void> {
    if (this.service || !peers.some((p) => p.bfd)) return;
    // its own thread (the service and its sockets run there), started with the first watch
    const { BfdWorker } = await import("../bfd/worker-client.js");
    this.service ??= new BfdWorker({ log: this.log, debug: this.debug });
  }

  watch(...args: Parameters<FailureDetector["watch"]>): ReturnType<FailureDetector["watch"]> {
    if (!this.service) throw new TabbyError("CLI_INTERNAL", "a BFD peer before the BFD service was loaded");
    return this.service.watch(...args);
  }

  status(): ReturnType<BfdWorker["status"]> {
    return this.service?.status() ?? [];
  }

  async close(): Promise<void> {
    await this.service?.close();
  }
}

/** `installRoutes: true`: learned best paths into this namespace's kernel over rtnetlink, next hops off the connected networks resolved recursively. */
async function fibInstaller(log: Log) {
  const [{ FibInstaller }, { NetlinkRouteTable }, { ExecRunner }] = await Promise.all([
    import("../dataplane/fib-installer.js"),
    import("../dataplane/netlink/route-table.js"),
    import("../dataplane/exec.js"),
  ]);
  const table = new NetlinkRouteTable();
  return new FibInstaller(new ExecRunner(), systemClock, log, 20, {
    connected: () => table.connected({ v6Routes: false }),
    write: (writes) => table.write(writes),
  });
}

export async function run(argv: string[], io: CliIO): Promise<number> {
  const parsed = parseCommandLine("bgp run", argv, io);
  if (!parsed) return 0;
  const file = parsed.values.config;
  const verbose = parsed.values.verbose === true;
  const restarting = parsed.values.restarting === true;
  if (!file) throw new UsageError("-c FILE is required\nusage: tabby bgp run -c FILE [-v] [-R]");
  const cfg = parseConfig(readConfigText(file), file);
  const grCfg = cfg.gracefulRestart === true ? {} : cfg.gracefulRestart || undefined;
  if (restarting && !grCfg) throw new UsageError("--restarting needs gracefulRestart in the config");
  const log = (level: string, msg: string, fields?: Record<string, unknown>) => {
    if (level === "debug" && !verbose) return;
    io.stderr.write(`${new Date().toISOString()} ${level} ${msg}${fields ? " " + JSON.stringify(fields) : ""}\n`);
  };
  // BFD: loaded, and its sockets opened, only when a peer asks for it
  const bfd = new LazyBfd(log, verbose);
  await bfd.ensure(cfg.peers ?? []);
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
  const fib = cfg.installRoutes ? await fibInstaller(log) : undefined;
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
  // Signals are taken before the control socket exists: a supervisor that waits for the socket
  // may signal at once, and an unhandled SIGHUP or SIGTERM would kill the process.
  // SIGHUP re-reads the file and reconciles peers and announcements
  const reload = async () => {
    try {
      const next = parseConfig(readFileSync(file, "utf8"), file);
      await bfd.ensure(next.peers ?? []);
      speaker.setPeers(next.peers ?? []);
      speaker.setOriginated(next.announce ?? []);
      io.stderr.write(`${new Date().toISOString()} info configuration reloaded\n`);
    } catch (e) {
      io.stderr.write(`${new Date().toISOString()} error reload failed: ${e instanceof Error ? e.message : String(e)}\n`);
    }
  };
  // One reload at a time, each reading the file when its turn comes: a reload that waits for BFD
  // to load must not finish after a later one (a newer file) and undo it.
  let reloading = Promise.resolve();
  const onHup = () => {
    reloading = reloading.then(reload);
  };
  process.on("SIGHUP", onHup);
  const stopped = new Promise<"stop" | "restart">((resolve) => {
    process.once("SIGTERM", () => resolve("stop"));
    process.once("SIGINT", () => resolve("stop"));
    // graceful restart: leave without NOTIFICATIONs so helpers keep our routes
    if (grCfg) process.once("SIGUSR2", () => resolve("restart"));
  });
  const control = await serveControl(answerable, cfg.control ?? DEFAULT_CONTROL_SOCKET);
  let metricsServer: Server | undefined;
  if (cfg.metrics) {
    const [{ speakerRegistry }, { serveHttp }, { DEFAULT_METRICS_PORT }] = await Promise.all([
      import("../metrics/speaker-metrics.js"),
      import("../metrics/http.js"),
      import("../health/config.js"),
    ]);
    const reg = speakerRegistry({ peers: () => speaker.peerStatus(), bfd: () => bfd.status() });
    const host = cfg.metrics.address ?? "127.0.0.1";
    const port = cfg.metrics.port ?? DEFAULT_METRICS_PORT;
    metricsServer = await serveHttp(host, port, { metrics: { contentType: reg.contentType, render: () => reg.metrics() } });
    log("info", "serving metrics", { address: `${host.includes(":") ? `[${host}]` : host}:${port}` });
  }
  flushStartCache(); // the next start compiles less (compile-cache.ts)
  const how = await stopped;
  process.off("SIGHUP", onHup);
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
