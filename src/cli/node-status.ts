/**
 * `tabby node status [-o json]`: this host's BGP peers with their address, AS, type (mesh,
 * node-specific, global, node-peer; rr client when this node reflects for it), state, uptime,
 * prefix counts, and the reason a session is not Established (the socket error, the NOTIFICATION
 * in words, a refused peering), and, when a peer asks for BFD, its BFD state or why it has none, read from the local agent's control socket (--control, env
 * TABBY_CONTROL, default /run/tabby/node.sock) — calicoctl node status, for tabby's own speaker.
 * Before the peers, the agent's readiness as /readyz computes it (datastore, dataplane, BGP: each
 * check's state) with each component's last error and its age. `-o json` prints the peers only
 * (as before); the checks as JSON are /readyz's body.
 */
import { parseCommandLine } from "./parse.js";
import type { CliIO } from "./command.js";
import { TabbyError } from "../errors.js";
import { queryControl } from "../bgp/control.js";
import type { AgentPeerStatus } from "../agent/agent.js";
import type { HealthReport } from "../health/checks.js";
import { columns } from "./columns.js";

const DEFAULT_NODE_CONTROL = "/run/tabby/node.sock";

export async function run(argv: string[], io: CliIO): Promise<number> {
  const parsed = parseCommandLine("node status", argv, io);
  if (!parsed) return 0;
  const { values } = parsed;
  const sock = values.control ?? io.env["TABBY_CONTROL"] ?? DEFAULT_NODE_CONTROL;
  let peers: AgentPeerStatus[];
  try {
    peers = (await queryControl(sock, { op: "peers" })) as AgentPeerStatus[];
  } catch (err) {
    throw new TabbyError("CLI_AGENT_UNREACHABLE", `tabby node is not running here (no answer on ${sock}): ${(err as Error).message}`);
  }
  if (values.output === "json") {
    io.stdout.write(JSON.stringify(peers, null, 2) + "\n");
    return 0;
  }
  const node = io.env["TABBY_NODENAME"];
  io.stdout.write(`tabby node${node ? ` ${node}` : ""} is running.\n\n`);
  // an agent older than the health op answers with an error: leave the section out
  const health = (await queryControl(sock, { op: "health" }).catch(() => undefined)) as HealthReport | undefined;
  if (health) io.stdout.write(formatHealth(health) + "\n");
  io.stdout.write(`BGP peers:\n`);
  const head = ["PEER ADDRESS", "AS", "TYPE", "SOURCE", "STATE", "SINCE", "RECEIVED", "ACCEPTED", "ADVERTISED", "REASON"];
  const rows = peers.map((p) => [
    p.address,
    p.asNumber ? String(p.asNumber) : "-",
    `${p.type ?? "-"}${p.rrClient ? " (rr client)" : ""}`,
    p.source ?? "-",
    p.state,
    p.uptimeSeconds !== undefined ? formatDuration(p.uptimeSeconds) : "-",
    String(p.prefixesReceived),
    String(p.prefixesAccepted),
    String(p.prefixesAdvertised),
    p.established ? "" : (p.reason ?? p.lastError ?? ""),
  ]);
  // BFD (failureDetectionMode BFDIfDirectlyConnected): its own column, before the reason
  if (peers.some((p) => p.bfd)) {
    head.splice(head.length - 1, 0, "BFD");
    peers.forEach((p, i) => rows[i]!.splice(rows[i]!.length - 1, 0, p.bfd ?? "-"));
  }
  io.stdout.write(columns([head, ...rows]));
  return 0;
}

/** The readiness checks as `node status` prints them: one line per check, its last error below. */
export function formatHealth(h: HealthReport): string {
  const lines = [`Readiness: ${h.ready ? "ready" : "NOT ready"}`];
  const w = Math.max(...h.checks.map((c) => c.name.length));
  for (const c of h.checks) {
    lines.push(`  ${c.name.padEnd(w)}  ${c.ok ? "ok  " : "FAIL"}  ${c.detail}`);
    if (c.lastError) lines.push(`  ${"".padEnd(w)}        last error ${formatDuration(c.lastError.ageSeconds)} ago: ${c.lastError.message}`);
  }
  return lines.join("\n") + "\n";
}

export function formatDuration(s: number): string {
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  return h ? `${h}h${m}m${sec}s` : m ? `${m}m${sec}s` : `${sec}s`;
}
