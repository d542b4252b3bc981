/** `tabby bgp bfd [--control SOCK] [-o json]`: a running speaker's BFD sessions (RFC 5880). */
import type { CliIO } from "./command.js";
import { queryControl } from "../bgp/control.js";
import type { BfdSessionStatus } from "../bfd/service.js";
import { parseCommon, table } from "./bgp-peers.js";

export async function run(argv: string[], io: CliIO): Promise<number> {
  const args = parseCommon("bgp bfd", argv, io);
  if (!args) return 0;
  const { control, output } = args;
  const sessions = (await queryControl(control, { op: "bfd" })) as BfdSessionStatus[];
  if (output === "json") {
    io.stdout.write(JSON.stringify(sessions, null, 2) + "\n");
    return 0;
  }
  const rows = [["PEER", "LOCAL", "HOPS", "STATE", "REMOTE", "TX MS", "DETECT MS", "DIAG", "DISCRIMINATORS"]];
  for (const s of sessions) {
    rows.push([
      s.peer,
      s.local ?? "-",
      s.multihop ? "multi" : "single",
      s.state,
      s.remoteState,
      String(s.txIntervalMs),
      String(s.detectionTimeMs),
      String(s.diag),
      `${s.localDiscriminator}/${s.remoteDiscriminator}`,
    ]);
  }
  io.stdout.write(table(rows));
  return 0;
}
