/** `tabby bgp routes [--control SOCK] [--family ipv4|ipv6] [-o json]`: a running speaker's Loc-RIB. */
import type { CliIO } from "./command.js";
import { queryControl } from "../bgp/control.js";
import type { RouteView } from "../bgp/speaker.js";
import { familyOf, parseCommon, table } from "./bgp-peers.js";

export async function run(argv: string[], io: CliIO): Promise<number> {
  const args = parseCommon("bgp routes", argv, io);
  if (!args) return 0;
  const { control, output } = args;
  const family = familyOf(args.values.family);
  const routes = (await queryControl(control, family ? { op: "routes", family } : { op: "routes" })) as RouteView[];
  if (output === "json") {
    io.stdout.write(JSON.stringify(routes, null, 2) + "\n");
    return 0;
  }
  const rows = [["", "PREFIX", "NEXT HOP", "PEER", "AS PATH", "ORIGIN", "LOCPRF", "MED", "COMMUNITIES"]];
  for (const r of routes) {
    for (const p of r.paths) {
      rows.push([
        p.best ? "*>" : "*",
        r.prefix,
        p.nextHop,
        p.peer,
        p.asPath.join(" "),
        p.origin,
        p.localPref === undefined ? "" : String(p.localPref),
        p.med === undefined ? "" : String(p.med),
        [...p.communities, ...(p.largeCommunities ?? [])].join(" "),
      ]);
    }
  }
  io.stdout.write(table(rows));
  return 0;
}
