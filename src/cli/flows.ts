/**
 * `tabby flows [--follow] [--denied] [-o json] [--name LAB | --control SOCK]`: the flow logs the
 * agents recorded (FelixConfiguration `flowLogsEnabled: true`), with the policy and rule that
 * allowed or denied each flow at each end. In a lab every host's agent is asked over its control
 * socket; elsewhere the local agent (`--control`, default /run/tabby/node.sock). `--follow` asks
 * again every two seconds and prints each flow once, when it first appears.
 */
import { parseCommandLine } from "./parse.js";
import { join } from "node:path";
import type { CliIO } from "./command.js";
import { UsageError } from "./command.js";
import { queryControl } from "../bgp/control.js";
import { currentLabName, readLabState } from "../lab/state.js";
import type { FlowRecord } from "../flows/aggregate.js";
import { columns } from "./columns.js";

const DEFAULT_SOCKET = "/run/tabby/node.sock";

export async function run(argv: string[], io: CliIO): Promise<number> {
  const parsed = parseCommandLine("flows", argv, io);
  if (!parsed) return 0;
  const { values } = parsed;
  if (values.output !== undefined && values.output !== "json") throw new UsageError("-o must be json");
  const labName = values.control ? undefined : (values.name ?? currentLabName());
  const state = labName ? readLabState(labName) : undefined;
  if (values.name && !state) throw new UsageError(`no lab named "${values.name}" is up`);
  const sockets = state
    ? state.plan.hosts.map((h) => ({ host: h.name, sock: join(state.dir, `${h.name}.sock`) }))
    : [{ host: "", sock: values.control ?? io.env["TABBY_CONTROL"] ?? DEFAULT_SOCKET }];

  const read = async (): Promise<{ records: FlowRecord[]; errors: string[] }> => {
    const records: FlowRecord[] = [];
    const errors: string[] = [];
    await Promise.all(
      sockets.map(async ({ host, sock }) => {
        try {
          const r = (await queryControl(sock, { op: "flows" })) as { records: FlowRecord[]; error?: string };
          for (const x of r.records) records.push(host ? { host, ...x } : x);
          if (r.error) errors.push(`${host || sock}: ${r.error}`);
        } catch (e) {
          errors.push(`${host || sock}: ${(e as Error).message}`);
        }
      }),
    );
    const shown = records.filter((r) => !values.denied || r.action === "deny");
    shown.sort((a, b) => a.start.localeCompare(b.start) || (a.host ?? "").localeCompare(b.host ?? ""));
    return { records: shown, errors };
  };

  if (!values.follow) {
    const { records, errors } = await read();
    for (const e of errors) io.stderr.write(`tabby flows: ${e}\n`);
    if (values.output === "json") io.stdout.write(JSON.stringify(records, null, 2) + "\n");
    else io.stdout.write(formatFlows(records, true));
    return errors.length === sockets.length ? 1 : 0;
  }
  const seen = new Set<string>();
  let header = values.output !== "json";
  for (;;) {
    const { records } = await read();
    const fresh = records.filter((r) => {
      const k = flowKey(r);
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    });
    if (values.output === "json") for (const r of fresh) io.stdout.write(JSON.stringify(r) + "\n");
    else if (fresh.length) io.stdout.write(formatFlows(fresh, header)), (header = false);
    await new Promise((r) => setTimeout(r, 2000));
  }
}

function flowKey(r: FlowRecord): string {
  return [r.host, r.start, r.src, r.srcPort, r.dst, r.dstPort, r.protocol, r.action, r.direction, r.policy, r.rule].join("|");
}

function hostPort(a: string, p: number | undefined): string {
  if (p === undefined) return a;
  return a.includes(":") ? `[${a}]:${p}` : `${a}:${p}`;
}

export function formatFlows(records: FlowRecord[], header: boolean): string {
  const rows = records.map((r) => [
    r.start.slice(11, 19),
    r.host ?? "",
    hostPort(r.src, r.srcPort),
    hostPort(r.dst, r.dstPort),
    r.protocol,
    r.action,
    r.direction,
    `${r.policy}${r.rule !== undefined ? ` rule ${r.rule}` : ""}`,
    String(r.packets),
    String(r.bytes),
    r.replyPackets !== undefined ? String(r.replyPackets) : "-",
    r.replyBytes !== undefined ? String(r.replyBytes) : "-",
  ]);
  const head = ["START", "HOST", "SOURCE", "DESTINATION", "PROTO", "ACTION", "AT", "DECIDED BY", "PACKETS", "BYTES", "REPLY PACKETS", "REPLY BYTES"];
  return columns(header ? [head, ...rows] : rows);
}
