/**
 * `tabby bgp refresh [--peer ADDR] [--family ipv4|ipv6] [--control SOCK]`: asks a running
 * speaker's peers to send their routes again (ROUTE-REFRESH, RFC 2918; peers with enhanced route
 * refresh, RFC 7313, frame the answer with BoRR/EoRR and the speaker then drops what they did not
 * re-send). Prints how many requests went out.
 */
import type { CliIO } from "./command.js";
import { queryControl } from "../bgp/control.js";
import { familyOf, parseCommon } from "./bgp-peers.js";

export async function run(argv: string[], io: CliIO): Promise<number> {
  const args = parseCommon("bgp refresh", argv, io);
  if (!args) return 0;
  const { control, output } = args;
  const peer = args.values.peer;
  const family = familyOf(args.values.family);
  const req: { op: "refresh"; peer?: string; family?: "ipv4" | "ipv6" } = { op: "refresh" };
  if (peer !== undefined) req.peer = peer;
  if (family !== undefined) req.family = family;
  const r = (await queryControl(control, req)) as { requests: number };
  io.stdout.write(output === "json" ? JSON.stringify(r) + "\n" : `${r.requests} route refresh request(s) sent\n`);
  return 0;
}
