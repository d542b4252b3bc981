/**
 * `tabby explain SRC DST [--port P] [--protocol tcp|udp|icmp] [-6] [--size N] [-o json] [--name LAB]`
 * `  [--datastore URL --tls-ca F --tls-cert F --tls-key F --agent-port N --fabric-interface IF]`:
 * the path of one packet as it is now — each hop's kernel route (asked from the agents), the BGP
 * route behind it, the policy verdicts at the source's egress and the destination's ingress,
 * anti-spoofing, failsafes and the path MTU — and the first hop that fails.
 * Exit 0 when the packet would arrive, 1 when not (a hop whose agent cannot be asked included).
 * SRC and DST: a lab workload (`h1-w1`), a WorkloadEndpoint (`name` or `namespace/name`), a host
 * (Node) or router, a HostEndpoint, or an IP address.
 *
 * In a lab (the running one, or --name) places come from lab state (src/explain/lab.ts). On real
 * machines (no lab up, or --datastore / client certificates given) they come from the datastore
 * (src/explain/datastore.ts) and each host's agent is asked over its explain API at the Node's
 * address and --agent-port (env TABBY_EXPLAIN_PORT, default 9095) with the client certificate
 * --tls-ca/--tls-cert/--tls-key (env TABBY_EXPLAIN_TLS_CA/_CERT/_KEY), mutual TLS (src/explain/api.ts).
 */
import { parseCommandLine } from "./parse.js";
import type { CliIO } from "./command.js";
import { UsageError } from "./command.js";
import { TabbyError } from "../errors.js";
import { tryParseIP } from "../net/index.js";
import { currentLabName, readLabState } from "../lab/state.js";
import { labExplainContext } from "../explain/lab.js";
import { datastoreExplainContext, type ExplainContext } from "../explain/datastore.js";
import { DEFAULT_EXPLAIN_PORT, type TlsFiles } from "../explain/api.js";
import { withStoreFromArgs } from "./datastore-flag.js";
import { ResourceClient } from "../datastore/resource-client.js";
import { explainPath, type Place } from "../explain/walk.js";
import { formatExplanation } from "../explain/format.js";
import type { EvalProtocol } from "../calc/policy-eval.js";

export async function run(argv: string[], io: CliIO): Promise<number> {
  const parsed = parseCommandLine("explain", argv, io);
  if (!parsed) return 0;
  const { values, positionals } = parsed;
  if (positionals.length !== 2)
    throw new UsageError(
      "usage: tabby explain SRC DST [--port P] [--protocol tcp|udp|icmp] [-6] [--size BYTES] [-o json] [--name LAB | --datastore URL --tls-ca FILE --tls-cert FILE --tls-key FILE [--agent-port N] [--fabric-interface IF]]",
    );
  const protocol = (values.protocol ?? (values.port ? "tcp" : "icmp")).toLowerCase();
  if (!["tcp", "udp", "icmp"].includes(protocol)) throw new UsageError(`--protocol must be tcp, udp or icmp, not ${values.protocol}`);
  const port = values.port !== undefined ? Number(values.port) : undefined;
  if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535)) throw new UsageError(`--port must be 1-65535, not ${values.port}`);
  if (port !== undefined && protocol === "icmp") throw new UsageError("--port needs --protocol tcp or udp");
  const size = values.size !== undefined ? Number(values.size) : undefined;
  if (size !== undefined && (!Number.isInteger(size) || size < 28 || size > 65535))
    throw new UsageError(`--size must be a packet size in bytes, not ${values.size}`);
  if (values.output !== undefined && values.output !== "json") throw new UsageError(`-o must be json`);

  const tls = tlsFiles(values, io.env);
  // the lab unless told otherwise: --datastore or client certificates mean the machines' agents
  const remote = values.name === undefined && (values.datastore !== undefined || tls.given);
  const labName = remote ? undefined : (values.name ?? currentLabName());
  const state = labName ? readLabState(labName) : undefined;
  if (labName && !state) throw new TabbyError("CLI_EXPLAIN_NO_LAB", `no lab named "${labName}" is up`);
  let ctx: ExplainContext;
  let where: string;
  if (values.via !== undefined && (!state || !["api", "control"].includes(values.via)))
    throw new UsageError(`--via is for a lab: api (the agents' explain API, the default) or control (their control sockets), not ${values.via}`);
  if (state) {
    ctx = await labExplainContext(state, undefined, { via: values.via === "control" ? "control" : "api" });
    where = `lab ${state.name}`;
  } else {
    if (!tls.files) {
      throw new TabbyError(
        "CLI_EXPLAIN_NO_TLS",
        `explain asks each agent on the path over its explain API, which answers only a client certificate from the agents' CA: give --tls-ca, --tls-cert and --tls-key (or TABBY_EXPLAIN_TLS_CA, _CERT, _KEY)${tls.missing.length ? `; missing ${tls.missing.join(", ")}` : ""}`,
      );
    }
    const agentPort = values["agent-port"] ?? io.env["TABBY_EXPLAIN_PORT"];
    const apiPort = agentPort !== undefined ? Number(agentPort) : DEFAULT_EXPLAIN_PORT;
    if (!Number.isInteger(apiPort) || apiPort < 1 || apiPort > 65535) throw new UsageError(`--agent-port must be 1-65535, not ${agentPort}`);
    const files = tls.files;
    ctx = await withStoreFromArgs(values.datastore, io.env, (store) =>
      datastoreExplainContext(new ResourceClient(store), {
        port: apiPort,
        tls: files,
        ...(values["fabric-interface"] ? { fabricInterface: values["fabric-interface"] } : {}),
      }),
    );
    where = "the datastore";
  }
  const family = values.ipv6 || positionals.some((p) => tryParseIP(p)?.family === 6) ? 6 : 4;
  try {
    return await explainAndPrint(
      ctx,
      positionals,
      { family, protocol: protocol as EvalProtocol, port, size, json: values.output === "json", where, state },
      io,
    );
  } finally {
    await ctx.close?.();
  }
}

async function explainAndPrint(
  ctx: ExplainContext,
  positionals: string[],
  o: {
    family: 4 | 6;
    protocol: EvalProtocol;
    port: number | undefined;
    size: number | undefined;
    json: boolean;
    where: string;
    state: Parameters<typeof hostAddr>[0];
  },
  io: CliIO,
): Promise<number> {
  const { family, protocol, port, size, where, state } = o;
  const resolve = (text: string, role: string): { place: Place; addr: string } => {
    const ip = tryParseIP(text);
    if (ip) {
      const addr = ip.toString();
      const place = ctx.topo.ownerOf(addr);
      if (!place) throw new TabbyError("CLI_EXPLAIN_UNKNOWN", `${role} ${text} is no address of a workload, host or router of ${where}`);
      return { place, addr };
    }
    const place = ctx.topo.place(text);
    if (!place) throw new TabbyError("CLI_EXPLAIN_UNKNOWN", `${role} ${text} is no workload, endpoint, host or router of ${where}`);
    const addr = place.kind === "workload" ? place.addrs.find((a) => (family === 6) === a.includes(":")) : hostAddr(state, place, family);
    if (!addr) throw new TabbyError("CLI_EXPLAIN_UNKNOWN", `${role} ${text} has no IPv${family} address`);
    return { place, addr };
  };
  const src = resolve(positionals[0]!, "SRC");
  const dst = resolve(positionals[1]!, "DST");
  if (src.place.kind === "router") throw new TabbyError("CLI_EXPLAIN_UNKNOWN", `SRC ${positionals[0]} is a router: explain starts at a workload or a host`);
  const ex = await explainPath(
    {
      src: src.place,
      dst: dst.place,
      srcAddr: src.addr,
      dstAddr: dst.addr,
      protocol: protocol as EvalProtocol,
      ...(port !== undefined ? { port } : {}),
      ...(size !== undefined ? { size } : {}),
      failsafeInbound: ctx.failsafeInbound,
    },
    ctx.topo,
    ctx.oracle,
    ctx.evaluator,
  );
  if (o.json) io.stdout.write(JSON.stringify(ex, null, 2) + "\n");
  else io.stdout.write(formatExplanation(ex));
  return ex.arrives ? 0 : 1;
}

function hostAddr(state: { plan: { hosts: { name: string; ipv4: string; ipv6: string }[] } } | undefined, place: Place, family: 4 | 6): string | undefined {
  const h = state?.plan.hosts.find((x) => x.name === place.name);
  if (h) return (family === 4 ? h.ipv4 : h.ipv6).split("/")[0];
  return place.addrs.find((a) => (family === 6) === a.includes(":"));
}

/** The client certificate flags, else TABBY_EXPLAIN_TLS_CA/_CERT/_KEY: all three or none. */
export function tlsFiles(
  values: { "tls-ca"?: string; "tls-cert"?: string; "tls-key"?: string },
  env: NodeJS.ProcessEnv,
): { given: boolean; files?: TlsFiles; missing: string[] } {
  const pick = (flag: "tls-ca" | "tls-cert" | "tls-key", envName: string) => values[flag] ?? env[envName];
  const ca = pick("tls-ca", "TABBY_EXPLAIN_TLS_CA");
  const cert = pick("tls-cert", "TABBY_EXPLAIN_TLS_CERT");
  const key = pick("tls-key", "TABBY_EXPLAIN_TLS_KEY");
  const missing = [ca ? "" : "--tls-ca", cert ? "" : "--tls-cert", key ? "" : "--tls-key"].filter(Boolean);
  const given = missing.length < 3;
  if (given && missing.length)
    throw new UsageError(`the explain client certificate needs --tls-ca, --tls-cert and --tls-key together; missing ${missing.join(", ")}`);
  return ca && cert && key ? { given, files: { ca, cert, key }, missing } : { given, missing };
}
