/** `tabby bgp peers [--control SOCK] [-o json]`: a running speaker's peers and their state. */
import type { CliIO } from "./command.js";
import { UsageError } from "./command.js";
import { DEFAULT_CONTROL_SOCKET, queryControl } from "../bgp/control.js";
import type { PeerStatus } from "../bgp/speaker.js";

export function parseCommon(argv: string[], extra: Record<string, (v: string) => void> = {}): { control: string; output: "table" | "json" } {
  let control = DEFAULT_CONTROL_SOCKET;
  let output: "table" | "json" = "table";
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = argv[i + 1];
    if (a === "--control" && v !== undefined) (control = v), i++;
    else if (a === "-o" && (v === "json" || v === "table")) (output = v), i++;
    else if (extra[a] && v !== undefined) extra[a](v), i++;
    else throw new UsageError(`unknown argument ${a}`);
  }
  return { control, output };
}

export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n") + "\n";
}

function duration(s: number | undefined): string {
  if (s === undefined) return "-";
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${m}m` : `${m}m${s % 60}s`;
}

export async function run(argv: string[], io: CliIO): Promise<number> {
  const { control, output } = parseCommon(argv);
  const peers = (await queryControl(control, { op: "peers" })) as PeerStatus[];
  if (output === "json") {
    io.stdout.write(JSON.stringify(peers, null, 2) + "\n");
    return 0;
  }
  const rows = [["PEER", "AS", "STATE", "UPTIME", "RECEIVED", "ACCEPTED", "ADVERTISED", "LAST ERROR"]];
  for (const p of peers) {
    rows.push([p.address, String(p.asNumber), p.state, duration(p.uptimeSeconds), String(p.prefixesReceived), String(p.prefixesAccepted), String(p.prefixesAdvertised), (p.established ? p.lastError : (p.reason ?? p.lastError)) ?? ""]);
  }
  io.stdout.write(table(rows));
  return 0;
}
