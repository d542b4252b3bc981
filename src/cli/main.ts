#!/usr/bin/env node
/**
 * `tabby`: the command-line entry. Maps "verb [noun]" to a module under src/cli/ and loads only
 * that one. When a container runtime runs this binary as a CNI plugin (CNI_COMMAND is set), it
 * hands over to the CNI plugin instead.
 */
import type { CliIO, CommandModule } from "./command.js";
import { UsageError } from "./command.js";
import { TabbyError } from "../errors.js";

/** Command table: words → module (relative to this file) and a one-line summary. */
const COMMANDS: { words: string[]; module: string; summary: string }[] = [
  { words: ["apply"], module: "./apply.js", summary: "create or update resources from -f FILE (YAML or JSON)" },
  { words: ["create"], module: "./create.js", summary: "create resources from -f FILE; fails if one exists" },
  { words: ["get"], module: "./get.js", summary: "list or show resources: get KIND [NAME] [-o yaml|json|wide]" },
  { words: ["delete"], module: "./delete.js", summary: "delete resources: delete KIND NAME | -f FILE" },
  { words: ["replace"], module: "./replace.js", summary: "update resources from -f FILE; fails if one does not exist" },
  { words: ["patch"], module: "./patch.js", summary: "patch one resource: patch KIND NAME -p JSON-MERGE-PATCH" },
  { words: ["label"], module: "./label.js", summary: "set or remove labels: label KIND NAME k=v [k-] [--overwrite]" },
  { words: ["datastore", "export"], module: "./datastore-export.js", summary: "write every resource and IPAM key to -o FILE" },
  { words: ["datastore", "import"], module: "./datastore-import.js", summary: "load an export into an empty datastore: import -f FILE" },
  { words: ["node", "run"], module: "./node-run.js", summary: "run the per-host agent" },
  { words: ["node", "install"], module: "./node-install.js", summary: "write systemd units, env file, CNI plugins, sysctls: install [--root DIR] [--dry-run]" },
  { words: ["node", "uninstall"], module: "./node-uninstall.js", summary: "remove what node install wrote and clean the dataplane" },
  { words: ["node", "cleanup"], module: "./node-cleanup.js", summary: "remove tabby's routes, nft table and interfaces from this host" },
  { words: ["node", "check"], module: "./node-check.js", summary: "preflight: kernel, sysctls, nft, clock, datastore, CNI, port 179" },
  { words: ["docker-plugin"], module: "./docker-plugin.js", summary: "serve Docker's network and IPAM driver API (docs/docker.md)" },
  { words: ["node", "status"], module: "./node-status.js", summary: "this host's BGP peers and their state" },
  { words: ["bgp", "run"], module: "./bgp-run.js", summary: "run a standalone BGP speaker from a YAML config" },
  { words: ["bgp", "peers"], module: "./bgp-peers.js", summary: "list a speaker's peers" },
  { words: ["bgp", "routes"], module: "./bgp-routes.js", summary: "list a speaker's Loc-RIB" },
  { words: ["bgp", "bfd"], module: "./bgp-bfd.js", summary: "list a speaker's BFD sessions" },
  { words: ["bgp", "refresh"], module: "./bgp-refresh.js", summary: "ask a speaker's peers to re-send their routes (route refresh)" },
  { words: ["ipam", "show"], module: "./ipam-show.js", summary: "show IP pools, blocks and usage" },
  { words: ["ipam", "check"], module: "./ipam-check.js", summary: "find leaked, shared and orphaned addresses and blocks" },
  { words: ["ipam", "release"], module: "./ipam-release.js", summary: "release --ip ADDR | --handle H | --leaked [--grace 15m]" },
  { words: ["workload"], module: "./workload.js", summary: "VMs on taps: workload add --interface TAP --name NAME | delete --name NAME" },
  { words: ["lab", "up"], module: "./lab-up.js", summary: "build a virtual data center in network namespaces" },
  { words: ["lab", "check"], module: "./lab-check.js", summary: "show who reaches whom in the lab" },
  { words: ["lab", "status"], module: "./lab-status.js", summary: "list the lab's hosts, routers and workloads" },
  { words: ["lab", "exec"], module: "./lab-exec.js", summary: "run a command in a lab host, router or workload: exec NAME -- CMD" },
  { words: ["lab", "restart"], module: "./lab-restart.js", summary: "stop and start a host's agent: restart HOST [--kill]" },
  { words: ["lab", "fail"], module: "./lab-fail.js", summary: "make a failure: fail HOST (agent) | ROUTER | A:B (a link)" },
  { words: ["lab", "heal"], module: "./lab-heal.js", summary: "undo a failure (or all): heal [TARGET]" },
  { words: ["lab", "drill"], module: "./lab-drill.js", summary: "run failures under a 10 ms prober: packets lost, longest gap" },
  { words: ["lab", "down"], module: "./lab-down.js", summary: "remove everything lab up made" },
  { words: ["cni", "install"], module: "./cni-install.js", summary: "install the CNI plugins and a default conflist" },
  { words: ["explain"], module: "./explain.js", summary: "the path of a packet now: explain SRC DST [--port P] [--protocol tcp|udp|icmp]" },
  { words: ["flows"], module: "./flows.js", summary: "flow logs with the policy that decided: flows [--follow] [--denied] [-o json]" },
  { words: ["ui"], module: "./ui.js", summary: "serve a live map of the lab: ui [--listen 127.0.0.1:9098]" },
  { words: ["selector"], module: "./selector.js", summary: "evaluate a selector: selector EXPR [--labels k=v,...]" },
  { words: ["version"], module: "./version.js", summary: "print tabby's version" },
];

function usage(): string {
  const lines = COMMANDS.map((c) => `  tabby ${c.words.join(" ").padEnd(14)} ${c.summary}`);
  return `usage: tabby COMMAND [options]\n\n${lines.join("\n")}\n\nGlobal: --datastore URL (or TABBY_DATASTORE): sqlite:///path (default sqlite:///var/lib/tabby/tabby.db),\n        etcd://host:port[,host:port], etcds://host:port?ca=FILE&cert=FILE&key=FILE\n`;
}

/** The Node.js lines tabby runs on (package.json `engines`): older ones crash in the SQLite addon. */
const MIN_NODE_MAJOR = 22;

export async function main(argv: string[], io: CliIO): Promise<number> {
  const major = Number(process.versions.node.split(".")[0]);
  if (major < MIN_NODE_MAJOR) {
    io.stderr.write(
      `tabby: needs Node.js ${MIN_NODE_MAJOR} or 24 (maintained LTS lines), this is ${process.version}; ` +
        `scripts/install-node.sh installs Node.js 24 under /opt/tabby-node (docs/install.md)\n`,
    );
    return 1;
  }
  if (io.env.CNI_COMMAND) {
    const { runCniPlugin } = await import("../cni/plugin-main.js");
    return runCniPlugin("tabby");
  }
  if (argv[0] === "--version" || argv[0] === "-V") argv = ["version", ...argv.slice(1)];
  if (argv.length === 0 || argv[0] === "help" || argv[0] === "--help" || argv[0] === "-h") {
    io.stdout.write(usage());
    return argv.length === 0 ? 2 : 0;
  }
  const match = COMMANDS.filter((c) => c.words.every((w, i) => argv[i] === w)).sort((a, b) => b.words.length - a.words.length)[0];
  if (!match) {
    io.stderr.write(`tabby: unknown command "${argv.slice(0, 2).join(" ")}"\n\n${usage()}`);
    return 2;
  }
  try {
    const mod = (await import(match.module)) as CommandModule;
    return await mod.run(argv.slice(match.words.length), io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`tabby ${match.words.join(" ")}: ${err.message}\n`);
      return 2;
    }
    if (err instanceof TabbyError) {
      io.stderr.write(`tabby ${match.words.join(" ")}: ${err.message} [${err.code}]\n`);
      return 1;
    }
    throw err;
  }
}

const code = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env });
process.exitCode = code;
