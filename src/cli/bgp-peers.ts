/** `tabby bgp peers [--control SOCK] [-o json]`: a running speaker's peers and their state. */
import type { CliIO } from "./command.js";
import { UsageError } from "./command.js";
import { DEFAULT_CONTROL_SOCKET, queryControl } from "../bgp/control.js";
import { parseCommandLine, type Values } from "./parse.js";
import type { PeerStatus } from "../bgp/speaker.js";

type SpeakerCommand = "bgp peers" | "bgp routes" | "bgp bfd" | "bgp refresh";

/** The flags the speaker's query commands share (--control SOCK, -o table|json); undefined after --help. */
export function parseCommon<W extends SpeakerCommand>(
  words: W,
  argv: string[],
  io: CliIO,
): { control: string; output: "table" | "json"; values: Values<W> } | undefined {
  const parsed = parseCommandLine(words, argv, io);
  if (!parsed) return undefined;
  const { values, positionals } = parsed;
  if (positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const v = values as Values<"bgp peers">;
  const output = v.output ?? "table";
  if (output !== "table" && output !== "json") throw new UsageError(`-o is table or json, not ${JSON.stringify(output)}`);
  return { control: v.control ?? DEFAULT_CONTROL_SOCKET, output, values };
}

/** --family ipv4|ipv6, checked. */
export function familyOf(v: string | undefined): "ipv4" | "ipv6" | undefined {
  if (v !== undefined && v !== "ipv4" && v !== "ipv6") throw new UsageError("--family is ipv4 or ipv6");
  return v;
}

export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return (
    rows
      .map((r) =>
        r
          .map((c, i) => c.padEnd(widths[i]!))
          .join("  ")
          .trimEnd(),
      )
      .join("\n") + "\n"
  );
}

function duration(s: number | undefined): string {
  if (s === undefined) return "-";
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${m}m` : `${m}m${s % 60}s`;
}

export async function run(argv: string[], io: CliIO): Promise<number> {
  const args = parseCommon("bgp peers", argv, io);
  if (!args) return 0;
  const { control, output } = args;
  const peers = (await queryControl(control, { op: "peers" })) as PeerStatus[];
  if (output === "json") {
    io.stdout.write(JSON.stringify(peers, null, 2) + "\n");
    return 0;
  }
  const rows = [["PEER", "AS", "STATE", "UPTIME", "RECEIVED", "ACCEPTED", "ADVERTISED", "LAST ERROR"]];
  for (const p of peers) {
    rows.push([
      p.address,
      String(p.asNumber),
      p.state,
      duration(p.uptimeSeconds),
      String(p.prefixesReceived),
      String(p.prefixesAccepted),
      String(p.prefixesAdvertised),
      (p.established ? p.lastError : (p.reason ?? p.lastError)) ?? "",
    ]);
  }
  io.stdout.write(table(rows));
  return 0;
}
