/**
 * `tabby node run`: the per-host agent. Flags mirror calico-node's environment:
 *   --name NAME         node name (env TABBY_NODENAME, else the hostname)
 *   --ip CIDR|autodetect|none  this host's IPv4 address/len for BGP (default autodetect, first-found,
 *                       skipping workload interfaces: FelixConfiguration interfacePrefix);
 *                       none: an IPv6-only host (its BGP router id is derived from the node name)
 *   --ip6 CIDR|autodetect|none  IPv6 address/len (default autodetect; none disables)
 *   --as N              this node's AS number (default: BGPConfiguration's, 64512)
 *   --ipv4-pool CIDR    default IPv4 pool created when none exists (192.168.0.0/16)
 *   --ipv6-pool CIDR    default IPv6 pool created when none exists (none)
 *   --control PATH      status socket (env TABBY_CONTROL, default /run/tabby/node.sock)
 *   --hold-time S       BGP hold time (90); the listen port and address come from BGPConfiguration
 *                       (listenPort, bindMode; `node.<name>` overrides `default`)
 *   --secrets-dir DIR   where BGP passwords are read (env TABBY_SECRETS_DIR, default /etc/tabby/secrets):
 *                       secretKeyRef {name, key} is the file DIR/name/key
 *   --datastore URL     (env TABBY_DATASTORE)
 *   --log-level debug|info|warn|error
 *   --graceful-restart  (the default, as calico-node's BIRD) graceful restart as restarting speaker
 *                       (RFC 4724): peers keep this host's routes while it restarts (a crash, a kill -9
 *                       or SIGUSR2, which stops without NOTIFICATIONs); a start that finds learned
 *                       routes installed keeps them until the peers' End-of-RIB
 *   --no-graceful-restart  turn it off: peers withdraw this host's routes as soon as its sessions drop
 *   --bfd-min-rx MS, --bfd-min-tx MS, --bfd-multiplier N  BFD timers (RFC 5880) for BGPPeers with
 *                       `failureDetectionMode: BFDIfDirectlyConnected` whose address is directly
 *                       connected (default 300, 300, 3: FRR's); --no-bfd: no BFD (those peers say so)
 *   --ipam-gc-grace DURATION|off  leak collection's grace period (default 15m; KubeControllersConfiguration
 *                       `default` spec.controllers.node.leakGracePeriod wins when set); off: this agent
 *                       never collects. Every agent runs the collector; one, elected by lease, acts.
 *   --ipam-gc-interval DURATION  time between collection passes (default half the grace, at most 5m)
 *   --endpoint-status-dir DIR  where the agent says which workload endpoints it has programmed, for
 *                       the CNI plugin's and Docker driver's wait (default /run/tabby/endpoint-status
 *                       with the default control socket, else `<control without .sock>.endpoint-status`;
 *                       `off`: not published)
 *   --explain-listen IP:PORT  serve the explain API (`tabby explain` from other machines, src/explain/api.ts)
 *                       on that address only: HTTPS with mutual TLS, read-only. Off by default; needs
 *   --explain-tls-ca FILE, --explain-tls-cert FILE, --explain-tls-key FILE  the CA that client
 *                       certificates must chain to, and this agent's server certificate and key
 * Metrics and health (docs/observability.md) follow FelixConfiguration `default` and
 * `node.<name>` as read at start: prometheusMetricsEnabled/Host/Port (off; 127.0.0.1:9091) and
 * healthEnabled/Host/Port (on; 127.0.0.1:9099). A change takes effect at the next start (Felix
 * restarts itself on such changes too); the agent logs the values it used.
 * Runs until SIGTERM/SIGINT, then stops cleanly: peers are told (they withdraw this host's
 * routes); the kernel state is left for the next start to reconcile.
 */
import { parseCommandLine } from "./parse.js";
import { flushStartCache } from "./compile-cache.js";
import { hostname } from "node:os";
import { dirname, join } from "node:path";
import type { CliIO } from "./command.js";
import { UsageError } from "./command.js";
import { TabbyError } from "../errors.js";
import { Agent } from "../agent/agent.js";
import { ensureDefaultPools } from "../agent/register-node.js";
import { firstFoundAddress, type IpAddrJson } from "../agent/autodetect.js";
import { parseInterfacePrefixes } from "../net/iface-prefix.js";
import { jsonLogger, type Level } from "../agent/log.js";
import { datastoreFromArgs, openStoreFromArgs } from "./datastore-flag.js";
import { datastoreEndpoints } from "../agent/control-plane-addrs.js";
import { lookup as dnsLookup } from "node:dns/promises";
import { ExecRunner, runOk } from "../dataplane/exec.js";
import { LinkMonitor } from "../dataplane/netlink/link-monitor.js";
import { NetlinkRouteTable } from "../dataplane/netlink/route-table.js";
import { startWorkloadDhcp } from "../dhcp/agent-hook.js";
import { ReleasedAddressFlush } from "../flows/ct-flush.js";
import { ProcSysctl, applySysctls, hostSysctls, workloadSysctls } from "../dataplane/sysctl.js";
import { Speaker } from "../bgp/speaker.js";
import { buildPolicyCalcGraph } from "../calc/policy/index.js";
import { NftDataplane } from "../dataplane/nft/index.js";
import { EndpointStatusPublisher } from "../dataplane/endpoint-status-publisher.js";
import { serveControl, type ControlExtras } from "../bgp/control.js";
// The explain API (node:https, node:tls) and the metrics (prom-client) are loaded only when
// configured: an idle agent with neither does not carry them (issue #15, docs/benchmarks.md).
import type { Listen, TlsFiles } from "../explain/api.js";
import { parseListen } from "../explain/listen.js";
import { lookupRoute } from "../explain/route-lookup.js";
import { FlowLogReader } from "../flows/reader.js";
import { FLOW_LOG_GROUP } from "../calc/policy-output.js";
import { IpamGcController } from "../ipam/controller.js";
import { DEFAULT_SECRETS_DIR, fileSecrets } from "../agent/secrets.js";
import { parseDuration } from "../ipam/gc.js";
import { ensureSchema } from "../datastore/schema.js";
import { tabbyVersion } from "../version.js";
import { ResourceClient } from "../datastore/resource-client.js";
import { resourceKey } from "../model/keys.js";
import { Backoff } from "../net/backoff.js";
import { systemClock } from "../clock.js";
import type { AgentMetrics } from "../metrics/agent-metrics.js";
import { invalidResource } from "../metrics/invalid-resource.js";
import { HttpEndpoints } from "../metrics/endpoints.js";
import { healthReport, startingReport } from "../health/checks.js";
import { DatastoreProbe } from "../health/datastore-probe.js";
import { observabilityConfig } from "../health/config.js";

const PROM_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
import { BFD_DEFAULTS, validateOptions } from "../bfd/options.js";
import { BfdWorker } from "../bfd/worker-client.js";
import { startMemoryReducer } from "../bgp/memory-reducer.js";

export const DEFAULT_NODE_CONTROL = "/run/tabby/node.sock";

const LEVELS: Level[] = ["debug", "info", "warn", "error"];

/** BGPConfiguration `logSeverityScreen` as the lowest level of the speaker's lines that are logged. */
function speakerLogFloor(severity: string | undefined): number {
  const map: Record<string, Level> = { Trace: "debug", Debug: "debug", Info: "info", Warning: "warn", Error: "error", Fatal: "error" };
  return LEVELS.indexOf(map[severity ?? "Info"] ?? "info");
}

/**
 * The endpoint status directory when not given: /run/tabby/endpoint-status (the CNI plugin's
 * default) for the default control socket, else one named after the control socket
 * (`/x/h1.sock` → `/x/h1.endpoint-status`), so that agents sharing a directory (a lab) never share it.
 */
export function defaultStatusDir(control: string): string {
  if (control === DEFAULT_NODE_CONTROL) return join(dirname(control), "endpoint-status");
  return `${control.replace(/\.sock$/, "")}.endpoint-status`;
}

/**
 * Retries an operation that failed only because the datastore is unavailable (DS_UNAVAILABLE),
 * backing off from 1 s to 8 s with jitter (net/backoff.ts); any other error is final.
 */
async function untilAvailable<T>(op: () => Promise<T>, what: string, log: ReturnType<typeof jsonLogger>): Promise<T> {
  const backoff = new Backoff({ initialMs: 1000, maxMs: 8000 });
  for (;;) {
    try {
      return await op();
    } catch (err) {
      if ((err as { code?: string }).code !== "DS_UNAVAILABLE") throw err;
      const delay = backoff.next();
      log("warn", `cannot ${what} yet; retrying`, { err: String(err), retryInMs: delay });
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

export async function run(argv: string[], io: CliIO): Promise<number> {
  const parsed = parseCommandLine("node run", argv, io);
  if (!parsed) return 0;
  const { values } = parsed;
  const level = values["log-level"] as Level;
  if (!["debug", "info", "warn", "error"].includes(level)) throw new UsageError(`--log-level must be debug, info, warn or error`);
  const nodeName = values.name ?? io.env["TABBY_NODENAME"] ?? hostname();
  const explainApi = explainApiConfig(values);
  const log = jsonLogger(level, io.stderr, { node: nodeName });
  // Whatever kills the agent says so in its log first.
  process.on("uncaughtException", (err) => {
    log("error", "agent crashed", { err: String(err), stack: err.stack });
    process.exit(70);
  });
  process.on("unhandledRejection", (err) => {
    log("error", "agent crashed (unhandled rejection)", { err: String(err), stack: (err as Error)?.stack });
    process.exit(70);
  });
  const runner = new ExecRunner();

  const num = (flag: string, v: string | undefined) => {
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v)) throw new UsageError(`--${flag} takes a whole number, got "${v}"`);
    return Number(v);
  };
  const asNumber = num("as", values.as);
  const secretsDir = values["secrets-dir"] ?? io.env["TABBY_SECRETS_DIR"] ?? DEFAULT_SECRETS_DIR;
  const holdTime = num("hold-time", values["hold-time"]);
  const control = values.control ?? io.env["TABBY_CONTROL"] ?? DEFAULT_NODE_CONTROL;
  if (values["graceful-restart"] && values["no-graceful-restart"]) throw new UsageError("--graceful-restart and --no-graceful-restart contradict each other");
  // Calico's default: BIRD runs with graceful restart on
  const gracefulRestart = values["no-graceful-restart"] !== true;
  const noBfd = values["no-bfd"] === true;
  if (noBfd && (values["bfd-min-rx"] ?? values["bfd-min-tx"] ?? values["bfd-multiplier"]) !== undefined)
    throw new UsageError("--no-bfd and --bfd-* timers contradict each other");
  const bfdTimers = noBfd
    ? undefined
    : {
        minRx: num("bfd-min-rx", values["bfd-min-rx"]) ?? BFD_DEFAULTS.minRx,
        minTx: num("bfd-min-tx", values["bfd-min-tx"]) ?? BFD_DEFAULTS.minTx,
        multiplier: num("bfd-multiplier", values["bfd-multiplier"]) ?? BFD_DEFAULTS.multiplier,
      };
  if (bfdTimers) {
    try {
      validateOptions(bfdTimers);
    } catch (e) {
      throw new UsageError(`--bfd-*: ${(e as Error).message}`);
    }
  }
  const statusDirFlag = values["endpoint-status-dir"];
  const statusDir = statusDirFlag === "off" ? undefined : (statusDirFlag ?? defaultStatusDir(control));
  const duration = (flag: string, v: string | undefined) => {
    if (v === undefined) return undefined;
    try {
      return parseDuration(v);
    } catch {
      throw new UsageError(`--${flag} takes a duration such as 15m, 90s or 0, got "${v}"`);
    }
  };
  const gcOff = values["ipam-gc-grace"] === "off";
  const gcGrace = gcOff ? undefined : duration("ipam-gc-grace", values["ipam-gc-grace"]);
  const gcInterval = duration("ipam-gc-interval", values["ipam-gc-interval"]);

  // Health answers from the start (on its defaults until FelixConfiguration is read): 503 while
  // the datastore is out of reach, so a probe tells "starting" from "ready".
  let running: Agent | undefined;
  let probe: DatastoreProbe | undefined;
  let metrics: AgentMetrics | undefined;
  const health = () =>
    running ? healthReport(running.healthInputs(), probe?.state(), Date.now()) : startingReport("the agent is starting: waiting for the datastore");
  const endpoints = new HttpEndpoints({ metrics: { contentType: PROM_CONTENT_TYPE, render: () => metrics?.metrics() ?? Promise.resolve("") }, health }, log);
  await endpoints.apply(observabilityConfig([]));

  // The datastore may be down when the host boots: wait for it rather than exit.
  const store = await untilAvailable(() => openStoreFromArgs(values.datastore, io.env), "open the datastore", log);
  // Never run against a datastore a newer, incompatible tabby wrote (DS_SCHEMA_TOO_NEW).
  const schema = await untilAvailable(() => ensureSchema(store, tabbyVersion()), "check the datastore schema", log);
  log("info", "datastore schema", { schema: schema.version, minReader: schema.minReader, writtenBy: schema.writtenBy, tabby: tabbyVersion() });
  const pools: { ipv4?: string; ipv6?: string } = { ipv4: values["ipv4-pool"] };
  if (values["ipv6-pool"]) pools.ipv6 = values["ipv6-pool"];
  const made = await untilAvailable(() => ensureDefaultPools(store, pools), "check the IP pools", log);
  if (made.length) log("info", "created default IP pools", { pools: made });

  // Metrics and health endpoints: FelixConfiguration default, then node.<name>, read once.
  const felixRead = await untilAvailable(
    async () => {
      const client = new ResourceClient(store);
      const specs: (Record<string, unknown> | undefined)[] = [];
      for (const name of ["default", `node.${nodeName}`]) {
        const r = await client.get("FelixConfiguration", name).catch((err: unknown) => {
          if ((err as { code?: string }).code === "DS_UNAVAILABLE") throw err;
          return undefined; // absent (or invalid: refused by validation, so defaults apply)
        });
        specs.push(r?.spec as Record<string, unknown> | undefined);
      }
      return specs;
    },
    "read FelixConfiguration",
    log,
  );
  const felix = observabilityConfig(felixRead);

  // Autodetection skips the workload interfaces, as FelixConfiguration's interfacePrefix names
  // them (node.<name> over default; an invalid resource was read as absent: the default "tab").
  let links: IpAddrJson[] | undefined;
  const workloadPrefixes = parseInterfacePrefixes(felixRead[1]?.["interfacePrefix"] ?? felixRead[0]?.["interfacePrefix"]);
  const detect = async (fam: 4 | 6) => {
    links ??= JSON.parse((await runOk(runner, "ip", ["-j", "addr", "show"])).stdout) as IpAddrJson[];
    return firstFoundAddress(links, fam, workloadPrefixes);
  };
  const ipv4 = values.ip === "none" ? undefined : values.ip === "autodetect" ? await detect(4) : values.ip;
  const ipv6 = values.ip6 === "none" ? undefined : values.ip6 === "autodetect" ? await detect(6) : values.ip6;
  if (!ipv4 && values.ip !== "none")
    throw new TabbyError("AGENT_NO_ADDRESS", "no IPv4 address found for this host; pass --ip ADDR/LEN (or --ip none for an IPv6-only host)");
  if (!ipv4 && !ipv6) throw new TabbyError("AGENT_NO_ADDRESS", "--ip none needs an IPv6 address (--ip6 ADDR/LEN or autodetect)");

  // The endpoints are set at start (and the ports they use join the workload→control-plane drop
  // then): a later change is not silently ignored but reported, to take effect at the next start.
  const felixKeys = [resourceKey("FelixConfiguration", "default"), resourceKey("FelixConfiguration", `node.${nodeName}`)] as const;
  const felixSpecs = new Map<string, Record<string, unknown> | undefined>(felixKeys.map((k, i) => [k, felixRead[i]]));
  const noteFelixChange = (key: string, value: string | undefined) => {
    let spec: Record<string, unknown> | undefined;
    try {
      // an invalid resource counts as absent, as it does at start (the reader refuses it)
      spec = value === undefined || invalidResource(key, value) ? undefined : ((JSON.parse(value) as { spec?: Record<string, unknown> }).spec ?? undefined);
    } catch {
      spec = undefined;
    }
    felixSpecs.set(key, spec);
    const now = observabilityConfig(felixKeys.map((k) => felixSpecs.get(k)));
    if (JSON.stringify(now) !== JSON.stringify(felix)) {
      const msg = `FelixConfiguration changed the metrics/health endpoints (now ${JSON.stringify(now)}, serving ${JSON.stringify(felix)}): restart the agent to apply`;
      log("warn", msg);
      running?.noteError("datastore", msg);
    }
  };

  const sysctl = new ProcSysctl();
  await applySysctls(sysctl, hostSysctls({ v4: true, v6: ipv6 !== undefined }));

  // Policy: the calculation graph turns datastore changes into dataplane events; the nftables
  // dataplane keeps the previous run's table enforcing until the graph is in sync.
  // Workloads never reach the control plane: the datastore's endpoints join the node addresses
  // and the BGP ports (from BGPConfiguration) that the graph keeps (docs/security.md).
  const ds = await datastoreEndpoints(datastoreFromArgs(values.datastore, io.env).url, async (host) =>
    (await dnsLookup(host, { all: true })).map((a) => a.address),
  );
  // the metrics and health ports as configured join the reserved ones (9091 and 9099 always are)
  const servedPorts = [felix.metrics?.port, felix.health?.port, explainApi?.listen.port].filter((p): p is number => p !== undefined);
  const policyGraph = buildPolicyCalcGraph(nodeName, { datastoreAddrs: ds.addrs, extraTcpPorts: [...ds.tcpPorts, ...servedPorts] });
  // Felix's conntrack cleanup: the entries of an address a local workload let go of are deleted
  // before anything else gets the address (docs/policy.md, "Established connections").
  const released = new ReleasedAddressFlush({ log: (lvl, msg, f) => log(lvl, msg, f), noteError: (msg) => running?.noteError("dataplane", msg) });
  const nft = new NftDataplane(runner, { onReleased: released.run });
  const endpointStatus = statusDir ? new EndpointStatusPublisher(statusDir) : undefined;
  /** Policy events were applied since the endpoint status was last published whole. */
  let statusStale = true;
  // flow logs: read NFLOG always (idle unless FelixConfiguration flowLogsEnabled makes nft log to it)
  const flowLogs = new FlowLogReader(FLOW_LOG_GROUP);
  flowLogs.start().catch((err: unknown) => log("warn", "flow logs unavailable: cannot read NFLOG", { err: String(err) }));
  // BFD: one service for the agent's life (every speaker it makes shares it), in its own worker
  // thread (bfd/worker-client.ts) so a busy main thread does not take sessions down; the thread
  // and its sockets start only when a peer gets BFD. Workloads cannot reach UDP 3784/4784 here
  // (the control-plane drop).
  const bfdLog = (lvl: string, msg: string, fields?: Record<string, unknown>) => {
    if (lvl !== "debug") log(lvl as Level, msg, { component: "bfd", ...fields });
  };
  const bfd = bfdTimers ? new BfdWorker({ log: bfdLog }) : undefined;
  const agent: Agent = new Agent(
    {
      nodeName,
      ...(ipv4 ? { ipv4 } : {}),
      ...(ipv6 ? { ipv6 } : {}),
      ...(asNumber !== undefined ? { asNumber } : {}),
      ...(holdTime !== undefined ? { holdTime } : {}),
      ...(gracefulRestart ? { gracefulRestart } : {}),
      ...(bfdTimers ? { bfd: bfdTimers } : {}),
    },
    {
      store,
      // tabby's kernel routes over rtnetlink in process: no `ip` process per read or write
      routes: new NetlinkRouteTable(),
      // link and address changes in this namespace re-read the kernel's routes at once
      linkWatch: new LinkMonitor(),
      policy: {
        onUpdate: (key, value) => policyGraph.onUpdate(key, value, true),
        onInSync: () => policyGraph.onInSync(),
        sync: async () => {
          const events = policyGraph.flush();
          if (events.length > 0) statusStale = true;
          for (const e of events) {
            if (e.kind !== "config-update") continue;
            if (e.flowLogFlushMs !== undefined) flowLogs.aggregator.setInterval(e.flowLogFlushMs);
            // allowed flows count their whole connection through conntrack accounting while flow logs are on
            await flowLogs
              .setCounting(e.flowLogGroup !== undefined)
              .catch((err: unknown) => log("warn", "flow logs: allowed flows count their first packet only", { err: String(err) }));
          }
          await nft.apply(events);
          // Endpoints are ready once the table that knows them is in the kernel (Felix's endpoint status).
          // A pass without events (another host's endpoint, selected by no policy) changed nothing to publish.
          if (endpointStatus && nft.programmedOnce && statusStale) {
            await endpointStatus.publish(nft.state.workloads.values());
            statusStale = false;
          }
        },
        resync: async () => {
          const drift = await nft.resync();
          metrics?.resynced(drift.length);
          if (drift.length) {
            log("warn", "repaired nftables drift", { drift: drift.slice(0, 10) });
            agent.noteError("dataplane", `repaired nftables drift: ${drift.slice(0, 3).join("; ")}`);
          }
        },
      },
      interfaces: {
        configureWorkloadInterface: (name) => applySysctls(sysctl, workloadSysctls(name, { v4: true, v6: ipv6 !== undefined })),
      },
      readSecret: fileSecrets(secretsDir),
      events: {
        datastoreUpdates: (updates) => {
          metrics?.events.datastoreUpdates?.(updates);
          for (const u of updates) {
            if (u.key === felixKeys[0] || u.key === felixKeys[1]) noteFelixChange(u.key, u.value);
            const bad = invalidResource(u.key, u.value);
            if (!bad) continue;
            metrics?.invalidResourceSeen(bad.kind);
            const what = `${bad.kind} ${bad.namespace ? `${bad.namespace}/` : ""}${bad.name}`;
            log("error", "invalid resource in the datastore: treated as absent", { resource: what, err: bad.message });
            agent.noteError("datastore", `invalid ${what}: ${bad.message}`);
          }
        },
        datastoreError: (err) => metrics?.events.datastoreError?.(err),
        programmed: (seconds, err) => metrics?.events.programmed?.(seconds, err),
        convergence: (event, seconds) => metrics?.observeConvergence(event, seconds),
      },
      ...(bfd ? { bfdStatus: () => bfd.status() } : {}),
      createSpeaker: ({ routerId, asNumber: localAs, restarting, clusterId, listenPort, listenAddress }) => {
        return new Speaker({
          ...(bfd ? { failureDetector: bfd } : {}),
          routerId,
          asNumber: localAs,
          ...(clusterId ? { clusterId } : {}),
          // the kernel keeps our routes across a restart: forwarding state is preserved (F bit)
          ...(gracefulRestart ? { gracefulRestart: { restarting: !!restarting, preserveForwarding: true } } : {}),
          // bindMode None: every address ("::" takes IPv4 too); NodeIP (default): the node's address
          listen: { address: listenAddress ?? "::", port: listenPort },
          log: (lvl, msg, fields) => {
            if (LEVELS.indexOf(lvl as Level) >= speakerLogFloor(agent.speakerLogSeverity())) log(lvl as Level, msg, { component: "bgp", ...fields });
          },
        });
      },
      log,
    },
  );
  running = agent;
  // the probe reads this node's own Node: a key every agent may read, whatever the datastore's RBAC
  probe = new DatastoreProbe(store, systemClock, { key: resourceKey("Node", nodeName) });
  if (felix.metrics) {
    const { AgentMetrics } = await import("../metrics/agent-metrics.js");
    metrics = new AgentMetrics({
      peers: () => agent.peerStatus(),
      health: () => agent.healthInputs(),
      routeCounts: () => agent.routeCounts(),
      routeProblems: () => agent.routeProblems(),
      policy: () => {
        const c = nft.programmedCounts();
        return {
          endpoints: { workload: nft.state.workloads.size, host: nft.state.hosts.size },
          policies: nft.state.policies.size,
          policyRules: [...nft.state.policies.values()].reduce((n, p) => n + p.ingress.length + p.egress.length, 0),
          ipsets: nft.state.ipsets.size,
          chains: c.chains,
          rules: c.rules,
        };
      },
      store,
    });
  }
  for (const err of await endpoints.apply(felix)) agent.noteError("dataplane", err); // the network is still programmed
  probe.start();
  // one control socket for the agent's life: it answers from whichever speaker is current
  const controlExtras: ControlExtras = {
    routeProblems: () => agent.routeProblems(),
    health,
    flows: () => ({ records: flowLogs.records(), ...(flowLogs.lastError ? { error: flowLogs.lastError } : {}) }),
    explainRoute: (req) => lookupRoute(req as object, { runner, routes: (f) => agent.routes(f), problems: () => agent.routeProblems() }),
  };
  const control$ = serveControl(agent, control, controlExtras);
  control$.catch((err: unknown) => log("error", "cannot serve the control socket", { control, err: String(err) }));
  // the explain API, when configured: the same answers for `tabby explain` on other machines;
  // an API asked for that cannot be served stops the start (never a silently missing endpoint)
  const explainServer = explainApi
    ? await (await import("../explain/api.js")).serveExplainApi(explainApi.listen, explainApi.tls, agent, controlExtras)
    : undefined;
  if (explainApi) log("info", "serving the explain API (mutual TLS)", { listen: `${explainApi.listen.host}:${explainApi.listen.port}` });

  await agent.start();
  log("info", "in sync; programming the dataplane", { control });
  flushStartCache(); // the agents started after this one compile less (compile-cache.ts)
  // DHCP, DHCPv6 and RA for workloads that ask (VMs on taps: docs/vms.md)
  const dhcp = await startWorkloadDhcp({
    agent,
    felix: () => ({ ...felixSpecs.get(felixKeys[0]), ...felixSpecs.get(felixKeys[1]) }),
    log: (l, m, f) => log(l as Level, m, { component: "dhcp", ...f }),
  });
  // a burst's young generation back once idle (docs/benchmarks.md "Memory like BIRD's")
  const stopReducer = startMemoryReducer({ log: (level, msg, fields) => log(level, msg, fields) });
  // IPAM leak collection: every agent stands for election; the leader collects.
  const gc = gcOff
    ? undefined
    : new IpamGcController(store, {
        identity: `${nodeName}/${process.pid}`,
        ...(gcGrace !== undefined ? { graceMs: gcGrace } : {}),
        ...(gcInterval !== undefined ? { intervalMs: gcInterval } : {}),
        log,
      });
  gc?.start();
  const forRestart = await new Promise<boolean>((resolve) => {
    const onSignal = (sig: string) => {
      log("info", "stopping", { signal: sig });
      resolve(sig === "SIGUSR2");
    };
    process.once("SIGTERM", onSignal);
    process.once("SIGINT", onSignal);
    if (gracefulRestart) process.once("SIGUSR2", onSignal);
  });
  stopReducer();
  await gc?.stop();
  await dhcp?.stop();
  await agent.stop(undefined, forRestart);
  await released.close(); // its NETLINK_NETFILTER socket (the agent's nft applies are over)
  probe.stop();
  flowLogs.stop();
  await endpoints.close();
  await bfd?.close();
  (await control$.catch(() => undefined))?.close();
  explainServer?.close();
  await store.close();
  return 0;
}

/** The explain API's flags: all four or none (never a listener without its TLS, nor TLS files ignored). */
export function explainApiConfig(values: {
  "explain-listen"?: string;
  "explain-tls-ca"?: string;
  "explain-tls-cert"?: string;
  "explain-tls-key"?: string;
}): { listen: Listen; tls: TlsFiles } | undefined {
  const tlsFlags = ["explain-tls-ca", "explain-tls-cert", "explain-tls-key"] as const;
  const given = tlsFlags.filter((f) => values[f] !== undefined);
  if (values["explain-listen"] === undefined) {
    if (given.length) throw new UsageError(`--${given[0]} without --explain-listen: the explain API is off unless --explain-listen IP:PORT turns it on`);
    return undefined;
  }
  const missing = tlsFlags.filter((f) => values[f] === undefined);
  if (missing.length) throw new UsageError(`--explain-listen needs mutual TLS: missing ${missing.map((f) => `--${f}`).join(", ")}`);
  return {
    listen: parseListen(values["explain-listen"]),
    tls: { ca: values["explain-tls-ca"]!, cert: values["explain-tls-cert"]!, key: values["explain-tls-key"]! },
  };
}
