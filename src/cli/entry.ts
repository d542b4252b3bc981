/**
 * `tabby`: the command-line entry. One commander program built from the command tree
 * (commands.ts) routes "verb [noun]" to a module under src/cli/ and loads only that one; it
 * answers --help at every level, --version, and usage errors. Exit codes: 0 success, 1 an error,
 * 2 a usage error; no stack trace unless --debug. When a container runtime runs this binary as a
 * CNI plugin (CNI_COMMAND is set), it hands over to the CNI plugin instead. main.ts runs it;
 * tests call `main` in-process.
 */
import { Command, CommanderError } from "commander";
import type { CliIO, CommandModule } from "./command.js";
import { UsageError } from "./command.js";
import { TabbyError } from "../errors.js";
import { COMMANDS, GROUPS, type CommandWords } from "./commands.js";
import { commandFor, TabbyHelp } from "./parse.js";
import { setCommandContext } from "./command-context.js";

/** The Node.js lines tabby runs on (package.json `engines`): older ones crash in the SQLite addon. */
const MIN_NODE_MAJOR = 22;

const ENV_HELP = `
Environment:
  TABBY_DATASTORE   the datastore URL when --datastore is not given
  TABBY_CONFIG      the config file (default /etc/tabby/tabby.yaml; docs/cli.md)
  TABBY_CONTROL     the agent's control socket (node status, node check, flows)
  TABBY_NODENAME    this node's name

Exit codes: 0 success, 1 an error, 2 a usage error. Shell completion: tabby completion bash|zsh.
`;

/** The whole tree as a commander program; `onLeaf` is told which command was chosen. */
export function buildProgram(io: CliIO, onLeaf: (words: CommandWords) => void): Command {
  const out = { writeOut: (s: string) => void io.stdout.write(s), writeErr: (s: string) => void io.stderr.write(s), outputError: () => {} };
  const setup = (c: Command) => {
    c.exitOverride().configureOutput(out);
    c.createHelp = () => Object.assign(new TabbyHelp(), c.configureHelp());
    c.helpOption("-h, --help", "show this help");
    return c;
  };
  const program = setup(new Command("tabby"))
    .description("pure layer-3 virtual networking with Calico's resource model")
    .enablePositionalOptions()
    .option("-V, --version", "print tabby's version (same as tabby version)")
    .option("--debug", "print the stack trace of an error")
    .addHelpText("after", ENV_HELP);
  program.helpCommand("help [command]", "show help for a command");
  const groups = new Map<string, Command>();
  for (const words of Object.keys(COMMANDS) as CommandWords[]) {
    const parts = words.split(" ");
    let parent = program;
    if (parts.length === 2) {
      const g = parts[0]!;
      if (!groups.has(g)) groups.set(g, setup(program.command(g).description(GROUPS[g] ?? "")).helpCommand(false));
      parent = groups.get(g)!;
    }
    const leaf = setup(commandFor(parts.at(-1)!, COMMANDS[words]));
    leaf.action(() => onLeaf(words));
    parent.addCommand(leaf);
  }
  return program;
}

function report(io: CliIO, prefix: string, err: unknown, debug: boolean): number {
  if (err instanceof UsageError) {
    io.stderr.write(`${prefix}: ${err.message}\n`);
    return 2;
  }
  if (err instanceof TabbyError) io.stderr.write(`${prefix}: ${err.message} [${err.code}]\n`);
  else io.stderr.write(`${prefix}: ${err instanceof Error ? err.message : String(err)}${debug ? "" : " (--debug prints the stack trace)"}\n`);
  if (debug && err instanceof Error && err.stack) io.stderr.write(`${err.stack}\n`);
  return 1;
}

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
  // --debug anywhere before "--" is tabby's, not the command's.
  const dash = argv.indexOf("--");
  const head = dash === -1 ? argv : argv.slice(0, dash);
  const debug = head.includes("--debug");
  if (debug) argv = [...head.filter((a) => a !== "--debug"), ...(dash === -1 ? [] : argv.slice(dash))];
  if (argv[0] === "--version" || argv[0] === "-V") argv = ["version", ...argv.slice(1)];

  let chosen: CommandWords | undefined;
  const program = buildProgram(io, (w) => (chosen = w));
  try {
    program.parse(argv, { from: "user" });
  } catch (err) {
    if (!(err instanceof CommanderError)) return report(io, "tabby", err, debug);
    if (err.exitCode === 0) return 0; // --help, tabby help COMMAND
    if (err.code === "commander.help" || err.code === "commander.executeSubCommandAsync") return 2; // a group without its subcommand: help on stderr
    const words = argv
      .filter((a) => !a.startsWith("-"))
      .slice(0, 2)
      .join(" ");
    const known = (Object.keys(COMMANDS) as string[]).find((w) => words === w || words.startsWith(`${w} `));
    const group = !known && argv[0] !== undefined && argv[0] in GROUPS ? argv[0] : undefined;
    const at = known ? `tabby ${known}` : group ? `tabby ${group}` : "tabby";
    io.stderr.write(`${at}: ${err.message.replace(/^error: /, "")}\n(${at} --help lists the ${known ? "options" : "commands"})\n`);
    return 2;
  }
  if (!chosen) return 2;
  const words = chosen;
  const spec = COMMANDS[words];
  setCommandContext({ command: words, access: "datastore" in spec ? spec.datastore : undefined, stderr: io.stderr });
  try {
    const mod = (await import(spec.module)) as CommandModule;
    return await mod.run(argv.slice(words.split(" ").length), io);
  } catch (err) {
    return report(io, `tabby ${words}`, err, debug);
  }
}
