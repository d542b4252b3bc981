/**
 * `tabby get KIND [NAME…] [-n NAMESPACE | -A] [-o yaml|json|wide]`: show resources like
 * `calicoctl get`. Kinds are accepted case-insensitively, singular, plural or by Calico's short
 * names. The default output is a table with calicoctl's columns (per kind; more with `-o wide`);
 * `-o yaml|json` prints the objects (a `<Kind>List` when listing, the object when named).
 */
import type { CliIO } from "./command.js";
import { UsageError } from "./command.js";
import { withStore } from "./apply.js";
import { parseCommandLine } from "./parse.js";
import { resolveKind } from "../model/kinds.js";
import { toJson, toYaml } from "../model/manifest.js";
import { KINDS } from "../model/keys.js";
import { TabbyError } from "../errors.js";
import type { Resource } from "../model/resource.js";
import type { IPPoolSpec } from "../model/ippool.js";
import type { NodeSpec } from "../model/node.js";
import type { WorkloadEndpointSpec } from "../model/workload-endpoint.js";
import type { ProfileSpec } from "../model/profile.js";
import type { BGPPeerSpec } from "../model/bgp-peer.js";
import type { BGPConfigurationSpec } from "../model/bgp-configuration.js";
import { BGP_DEFAULTS } from "../model/bgp-configuration.js";

const USAGE = "tabby get KIND [NAME...] [-n NAMESPACE | -A] [-o yaml|json|wide] [--datastore URL]";

interface Column {
  header: string;
  cell: (r: Resource) => string;
}

/** Context a table may need beyond the rows (e.g. the cluster AS for Nodes without one). */
interface TableContext {
  globalAS: number;
}

const name: Column = { header: "NAME", cell: (r) => r.metadata.name };
const namespace: Column = { header: "NAMESPACE", cell: (r) => r.metadata.namespace ?? "" };
const list = (xs: unknown[] | undefined) => (xs ?? []).join(",");

function columns(kind: string, wide: boolean, ctx: TableContext): Column[] {
  switch (kind) {
    case "IPPool": {
      const s = (r: Resource) => r.spec as IPPoolSpec;
      const cidr = { header: "CIDR", cell: (r: Resource) => s(r).cidr };
      const sel = { header: "SELECTOR", cell: (r: Resource) => s(r).nodeSelector ?? "all()" };
      if (!wide) return [name, cidr, sel];
      return [
        name,
        cidr,
        { header: "NAT", cell: (r) => String(s(r).natOutgoing ?? false) },
        { header: "IPIPMODE", cell: (r) => s(r).ipipMode ?? "Never" },
        { header: "VXLANMODE", cell: (r) => s(r).vxlanMode ?? "Never" },
        { header: "DISABLED", cell: (r) => String(s(r).disabled ?? false) },
        { header: "DISABLEBGPEXPORT", cell: (r) => String(s(r).disableBGPExport ?? false) },
        sel,
      ];
    }
    case "Node": {
      if (!wide) return [name];
      const b = (r: Resource) => (r.spec as NodeSpec).bgp;
      return [
        name,
        { header: "ASN", cell: (r) => (b(r) ? (b(r)!.asNumber !== undefined ? String(b(r)!.asNumber) : `(${ctx.globalAS})`) : "") },
        { header: "IPV4", cell: (r) => b(r)?.ipv4Address ?? "" },
        { header: "IPV6", cell: (r) => b(r)?.ipv6Address ?? "" },
      ];
    }
    case "WorkloadEndpoint": {
      const s = (r: Resource) => r.spec as WorkloadEndpointSpec;
      const cols: Column[] = [
        { header: "WORKLOAD", cell: (r) => (s(r).orchestrator === "k8s" ? s(r).pod : s(r).workload) ?? s(r).workload ?? "" },
        { header: "NODE", cell: (r) => s(r).node ?? "" },
        { header: "NETWORKS", cell: (r) => list(s(r).ipNetworks) },
        { header: "INTERFACE", cell: (r) => s(r).interfaceName ?? "" },
      ];
      if (!wide) return cols;
      return [
        name,
        ...cols,
        { header: "PROFILES", cell: (r) => list(s(r).profiles) },
        { header: "NATS", cell: (r) => list((s(r).ipNATs ?? []).map((n) => `${n.internalIP}<->${n.externalIP}`)) },
      ];
    }
    case "Profile":
      return wide
        ? [
            name,
            {
              header: "LABELS",
              cell: (r) =>
                Object.entries((r.spec as ProfileSpec).labelsToApply ?? {})
                  .map(([k, v]) => `${k}=${v}`)
                  .join(","),
            },
          ]
        : [name];
    case "BGPPeer": {
      const s = (r: Resource) => r.spec as BGPPeerSpec;
      return [
        name,
        { header: "PEERIP", cell: (r) => s(r).peerIP ?? s(r).peerSelector ?? "" },
        { header: "NODE", cell: (r) => s(r).node ?? s(r).nodeSelector ?? "(global)" },
        { header: "ASN", cell: (r) => (s(r).asNumber !== undefined ? String(s(r).asNumber) : "") },
      ];
    }
    case "BGPConfiguration": {
      const s = (r: Resource) => r.spec as BGPConfigurationSpec;
      return [
        name,
        { header: "LOGSEVERITY", cell: (r) => s(r).logSeverityScreen ?? "" },
        { header: "MESHENABLED", cell: (r) => (s(r).nodeToNodeMeshEnabled === undefined ? "" : String(s(r).nodeToNodeMeshEnabled)) },
        { header: "ASNUMBER", cell: (r) => (s(r).asNumber === undefined ? "" : String(s(r).asNumber)) },
      ];
    }
    case "HostEndpoint": {
      const s = (r: Resource) => r.spec as { node?: string; interfaceName?: string; expectedIPs?: string[]; profiles?: string[] };
      const cols: Column[] = [name, { header: "NODE", cell: (r) => s(r).node ?? "" }];
      if (!wide) return cols;
      return [
        ...cols,
        { header: "INTERFACE", cell: (r) => s(r).interfaceName ?? "" },
        { header: "IPS", cell: (r) => list(s(r).expectedIPs) },
        { header: "PROFILES", cell: (r) => list(s(r).profiles) },
      ];
    }
    default:
      return [name];
  }
}

/** Left-aligned columns separated by three spaces, as calicoctl's tabwriter prints them. */
export function renderTable(cols: Column[], rows: Resource[]): string {
  const cells = [cols.map((c) => c.header), ...rows.map((r) => cols.map((c) => c.cell(r)))];
  const widths = cols.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)));
  return cells
    .map(
      (row) =>
        row
          .map((v, i) => (i === row.length - 1 ? v : v.padEnd(widths[i]! + 3)))
          .join("")
          .trimEnd() + "\n",
    )
    .join("");
}

export async function run(argv: string[], io: CliIO): Promise<number> {
  const parsed = parseCommandLine("get", argv, io);
  if (!parsed) return 0;
  const { values, positionals } = parsed;
  const [kindText, ...names] = positionals;
  if (!kindText) throw new UsageError(`KIND is required\nusage: ${USAGE}`);
  const kind = resolveKind(kindText);
  if (!kind) throw new UsageError(`unknown resource kind ${JSON.stringify(kindText)}`);
  const output = (values.output as string | undefined) ?? "table";
  if (!["table", "wide", "yaml", "json"].includes(output)) throw new UsageError(`unknown output format ${JSON.stringify(output)} (yaml, json or wide)`);
  const all = values["all-namespaces"] === true;
  if (all && values.namespace !== undefined) throw new UsageError("give -n NAMESPACE or -A, not both");
  const namespaced = KINDS[kind]!.namespaced;
  if (all && names.length) throw new UsageError("-A cannot be used with a NAME");
  const ns = namespaced ? (all ? undefined : ((values.namespace as string | undefined) ?? "default")) : undefined;

  return withStore("get", io, values.datastore as string | undefined, async (client) => {
    let rows: Resource[];
    if (names.length) {
      rows = [];
      for (const n of names) {
        const r = await client.get(kind, n, ns);
        if (!r) throw new TabbyError("DS_NOT_FOUND", `resource does not exist: ${kind}(${ns ? `${ns}/` : ""}${n})`, { kind, name: n });
        rows.push(r);
      }
    } else {
      rows = (await client.list(kind, ns)).items;
    }
    if (output === "yaml" || output === "json") {
      const print = names.length === 1 ? rows[0]! : rows;
      io.stdout.write(output === "yaml" ? toYaml(print, { list: names.length !== 1 }) : toJson(print, { list: names.length !== 1 }));
      return 0;
    }
    let globalAS: number = BGP_DEFAULTS.asNumber;
    if (kind === "Node" && output === "wide") {
      const cfg = await client.get<Resource<"BGPConfiguration", BGPConfigurationSpec>>("BGPConfiguration", "default");
      globalAS = cfg?.spec.asNumber ?? globalAS;
    }
    const cols = columns(kind, output === "wide", { globalAS });
    io.stdout.write(renderTable(namespaced && all ? [namespace, ...cols] : cols, rows));
    return 0;
  });
}
