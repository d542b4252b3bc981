/**
 * `tabby node cleanup [--netns NS] [--force] [--dry-run]`: removes what the agent and the CNI
 * plugin leave in a host's dataplane, on a host that no longer runs the agent (as Calico's
 * node removal leaves the host clean): every route with tabby's protocol (152, both families),
 * the nftables table `inet tabby`, and the host side of workload veths (`tab…`, which takes the
 * container side with it). Refuses while an agent answers on its control socket (--force
 * overrides): cleaning under a live agent would cut its workloads off until it repaired it.
 * The plan (cleanupPlan) is pure; `run` reads the state with `ip -j` and `nft -j` and executes it.
 */
import { connect } from "node:net";
import { parseCommandLine } from "./parse.js";
import type { CliIO } from "./command.js";
import { TabbyError } from "../errors.js";
import { ExecRunner, runOk, type CommandRunner } from "../dataplane/exec.js";
import { RT_PROTO_TABBY } from "../dataplane/routes.js";
import { HOST_VETH_PREFIX } from "../dataplane/links.js";
import { TABLE_FAMILY, TABLE_NAME } from "../dataplane/nft/names.js";

/** node-run.ts's default control socket (not imported: that would load the whole agent). */
const DEFAULT_NODE_CONTROL = "/run/tabby/node.sock";

export interface DataplaneState {
  /** `ip -j link show`: name and kind (linkinfo.info_kind). */
  links: { ifname: string; kind?: string | undefined }[];
  /** Destinations of routes with tabby's protocol, per family. */
  routes4: string[];
  routes6: string[];
  nftTable: boolean;
}

export interface CleanupStep {
  what: string;
  cmd: string;
  args: string[];
}

/** What removes tabby's dataplane, in order: policy last (workloads go first). Pure. */
export function cleanupPlan(s: DataplaneState): CleanupStep[] {
  const steps: CleanupStep[] = [];
  for (const l of s.links) {
    if (l.ifname.startsWith(HOST_VETH_PREFIX) && l.kind === "veth")
      steps.push({ what: `workload interface ${l.ifname}`, cmd: "ip", args: ["link", "del", l.ifname] });
  }
  if (s.routes4.length)
    steps.push({
      what: `${s.routes4.length} IPv4 route(s) of protocol ${RT_PROTO_TABBY}`,
      cmd: "ip",
      args: ["-4", "route", "flush", "table", "all", "proto", String(RT_PROTO_TABBY)],
    });
  if (s.routes6.length)
    steps.push({
      what: `${s.routes6.length} IPv6 route(s) of protocol ${RT_PROTO_TABBY}`,
      cmd: "ip",
      args: ["-6", "route", "flush", "table", "all", "proto", String(RT_PROTO_TABBY)],
    });
  if (s.nftTable) steps.push({ what: `nftables table ${TABLE_FAMILY} ${TABLE_NAME}`, cmd: "nft", args: ["delete", "table", TABLE_FAMILY, TABLE_NAME] });
  return steps;
}

export async function readDataplane(runner: CommandRunner, netns?: string): Promise<DataplaneState> {
  const o = netns ? { netns } : {};
  const links = JSON.parse((await runOk(runner, "ip", ["-d", "-j", "link", "show"], o)).stdout || "[]") as {
    ifname: string;
    linkinfo?: { info_kind?: string };
  }[];
  const routes = async (fam: string) => {
    // every table: a BGP-learned route may sit outside main when a policy put it there
    const out = (await runOk(runner, "ip", [fam, "-j", "route", "show", "table", "all", "proto", String(RT_PROTO_TABBY)], o)).stdout;
    return (JSON.parse(out || "[]") as { dst: string }[]).map((r) => r.dst);
  };
  const nft = await runner.run("nft", ["-j", "list", "table", TABLE_FAMILY, TABLE_NAME], o);
  return {
    links: links.map((l) => ({ ifname: l.ifname, kind: l.linkinfo?.info_kind })),
    routes4: await routes("-4"),
    routes6: await routes("-6"),
    nftTable: nft.code === 0,
  };
}

/** True when something accepts connections on the agent's control socket. */
export function agentAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

export async function nodeCleanup(opts: { runner: CommandRunner; netns?: string; dryRun: boolean; say: (l: string) => void }): Promise<CleanupStep[]> {
  const steps = cleanupPlan(await readDataplane(opts.runner, opts.netns));
  if (steps.length === 0) opts.say("nothing of tabby's left in this dataplane");
  for (const st of steps) {
    opts.say(`${opts.dryRun ? "would remove" : "remove"} ${st.what}`);
    if (!opts.dryRun) {
      const res = await opts.runner.run(st.cmd, st.args, opts.netns ? { netns: opts.netns } : {});
      // a veth whose peer's namespace went first is already gone: not an error
      if (res.code !== 0 && !(st.cmd === "ip" && st.args[0] === "link" && /Cannot find device/.test(res.stderr))) {
        throw new TabbyError("CLI_CLEANUP_FAILED", `cannot remove ${st.what}: ${st.cmd} ${st.args.join(" ")}: ${res.stderr.trim()}`);
      }
    }
  }
  return steps;
}

export async function run(argv: string[], io: CliIO): Promise<number> {
  const parsed = parseCommandLine("node cleanup", argv, io);
  if (!parsed) return 0;
  const { values } = parsed;
  const control = values.control ?? io.env["TABBY_CONTROL"] ?? DEFAULT_NODE_CONTROL;
  if (!values.force && !values.netns && (await agentAnswers(control))) {
    throw new TabbyError("CLI_AGENT_RUNNING", `an agent answers on ${control}: stop it first (systemctl stop tabby-node), or pass --force`);
  }
  await nodeCleanup({
    runner: new ExecRunner(),
    ...(values.netns ? { netns: values.netns } : {}),
    dryRun: values["dry-run"],
    say: (l) => io.stdout.write(l + "\n"),
  });
  return 0;
}
