/**
 * `tabby explain SRC DST [--port P] [--protocol tcp|udp|icmp] [-6] [--size N] [-o json] [--name LAB]`:
 * the path of one packet as it is now — each hop's kernel route (asked from the agents over their
 * control sockets), the BGP route behind it, the policy verdicts at the source's egress and the
 * destination's ingress, anti-spoofing, failsafes and the path MTU — and the first hop that fails.
 * Exit 0 when the packet would arrive, 1 when not. SRC and DST: a lab workload (`h1-w1`), a
 * WorkloadEndpoint (`name` or `namespace/name`), a host or router, or an IP address.
 *
 * The agents' control sockets are unix sockets for root on their own machine: explain reaches
 * every agent only where they all run on this machine (the lab). Across machines it refuses.
 */
import { parseArgs } from "node:util";
import type { CliIO } from "./command.js";
import { UsageError } from "./command.js";
import { TabbyError } from "../errors.js";
import { tryParseIP } from "../net/index.js";
import { currentLabName, readLabState } from "../lab/state.js";
import { labExplainContext } from "../explain/lab.js";
import { explainPath, type Place } from "../explain/walk.js";
import { formatExplanation } from "../explain/format.js";
import type { EvalProtocol } from "../calc/policy-eval.js";

export async function run(argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      name: { type: "string" },
      port: { type: "string", short: "p" },
      protocol: { type: "string" },
      size: { type: "string" },
      ipv6: { type: "boolean", short: "6" },
      output: { type: "string", short: "o" },
    },
  });
  if (positionals.length !== 2) throw new UsageError("usage: tabby explain SRC DST [--port P] [--protocol tcp|udp|icmp] [-6] [--size BYTES] [-o json] [--name LAB]");
  const protocol = (values.protocol ?? (values.port ? "tcp" : "icmp")).toLowerCase();
  if (!["tcp", "udp", "icmp"].includes(protocol)) throw new UsageError(`--protocol must be tcp, udp or icmp, not ${values.protocol}`);
  const port = values.port !== undefined ? Number(values.port) : undefined;
  if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535)) throw new UsageError(`--port must be 1-65535, not ${values.port}`);
  if (port !== undefined && protocol === "icmp") throw new UsageError("--port needs --protocol tcp or udp");
  const size = values.size !== undefined ? Number(values.size) : undefined;
  if (size !== undefined && (!Number.isInteger(size) || size < 28 || size > 65535)) throw new UsageError(`--size must be a packet size in bytes, not ${values.size}`);
  if (values.output !== undefined && values.output !== "json") throw new UsageError(`-o must be json`);

  const labName = values.name ?? currentLabName();
  const state = labName ? readLabState(labName) : undefined;
  if (!state) {
    throw new TabbyError(
      "CLI_EXPLAIN_NO_LAB",
      `${labName ? `no lab named "${labName}" is up` : "no lab is up"}: explain asks every agent on the path over its control socket, a unix socket for root on its own machine, so it runs where all the agents do (a lab on this machine). Across machines it would need an authenticated remote API on each agent, which tabby does not offer yet.`,
    );
  }
  const ctx = await labExplainContext(state);
  const family = values.ipv6 || positionals.some((p) => tryParseIP(p)?.family === 6) ? 6 : 4;
  const resolve = (text: string, role: string): { place: Place; addr: string } => {
    const ip = tryParseIP(text);
    if (ip) {
      const addr = ip.toString();
      const place = ctx.topo.ownerOf(addr);
      if (!place) throw new TabbyError("CLI_EXPLAIN_UNKNOWN", `${role} ${text} is no address of a workload, host or router of lab ${state.name}`);
      return { place, addr };
    }
    const place = ctx.topo.place(text);
    if (!place) throw new TabbyError("CLI_EXPLAIN_UNKNOWN", `${role} ${text} is no workload, endpoint, host or router of lab ${state.name}`);
    const addr = place.kind === "workload" ? place.addrs.find((a) => (family === 6) === a.includes(":")) : hostAddr(state, place, family);
    if (!addr) throw new TabbyError("CLI_EXPLAIN_UNKNOWN", `${role} ${text} has no IPv${family} address`);
    return { place, addr };
  };
  const src = resolve(positionals[0]!, "SRC");
  const dst = resolve(positionals[1]!, "DST");
  if (src.place.kind === "router") throw new TabbyError("CLI_EXPLAIN_UNKNOWN", `SRC ${positionals[0]} is a router: explain starts at a workload or a host`);
  const ex = await explainPath(
    { src: src.place, dst: dst.place, srcAddr: src.addr, dstAddr: dst.addr, protocol: protocol as EvalProtocol, ...(port !== undefined ? { port } : {}), ...(size !== undefined ? { size } : {}), failsafeInbound: ctx.failsafeInbound },
    ctx.topo,
    ctx.oracle,
    ctx.evaluator,
  );
  if (values.output === "json") io.stdout.write(JSON.stringify(ex, null, 2) + "\n");
  else io.stdout.write(formatExplanation(ex));
  return ex.arrives ? 0 : 1;
}

function hostAddr(state: { plan: { hosts: { name: string; ipv4: string; ipv6: string }[] } }, place: Place, family: 4 | 6): string | undefined {
  const h = state.plan.hosts.find((x) => x.name === place.name);
  if (h) return (family === 4 ? h.ipv4 : h.ipv6).split("/")[0];
  return place.addrs.find((a) => (family === 6) === a.includes(":"));
}
