/**
 * One argument parser for every command: commander, driven by the command tree in commands.ts.
 * `commandFor` turns one entry into a commander Command (arguments, options, help with the kinds
 * for resource verbs); `parseCommandLine` parses a command's argv with it and hands back
 * `{ values, positionals }` keyed by the long option names, typed from the entry, as node:util
 * parseArgs did. A usage error is a UsageError (exit code 2); `--help` prints the help and
 * resolves to undefined (the command returns 0).
 */
import { Command, CommanderError, Help, Option } from "commander";
import type { CliIO } from "./command.js";
import { UsageError } from "./command.js";
import { COMMANDS, type CommandSpec, type CommandWords, type OptionSpec } from "./commands.js";
import { kindAliases } from "../model/kinds.js";

type ValueOf<O> = O extends { type: "boolean" }
  ? O extends { default: boolean }
    ? boolean
    : boolean | undefined
  : O extends { multiple: true }
    ? string[] | undefined
    : O extends { default: string }
      ? string
      : string | undefined;

/** The parsed option values of command W, by long option name. */
export type Values<W extends CommandWords> = {
  -readonly [K in keyof (typeof COMMANDS)[W]["options"]]: ValueOf<(typeof COMMANDS)[W]["options"][K]>;
};

export interface Parsed<W extends CommandWords> {
  values: Values<W>;
  positionals: string[];
}

/** commander's help, with git's lower-case "usage:" (scripts and tests match on it). */
export class TabbyHelp extends Help {
  override styleTitle(title: string): string {
    return title === "Usage:" ? "usage:" : title;
  }
}

/** The "Kinds:" help section of resource verbs: each kind and the names it is also known by. */
export function kindsHelp(): string {
  const rows = kindAliases().map(({ kind, aliases }) => `  ${kind.padEnd(30)} ${aliases.join(", ")}`);
  return `\nKinds (case-insensitive; singular, plural or short name):\n${rows.join("\n")}\n`;
}

function optionFlags(long: string, o: OptionSpec): string {
  return `${o.short ? `-${o.short}, ` : ""}--${long}${o.type === "string" ? ` <${o.arg ?? "VALUE"}>` : ""}`;
}

/** A commander Command for one entry of the tree, named `name` (its last word, or the full "tabby WORDS"). */
export function commandFor(name: string, spec: CommandSpec): Command {
  const cmd = new Command(name).description(spec.summary);
  cmd.createHelp = () => Object.assign(new TabbyHelp(), cmd.configureHelp());
  for (const a of spec.args ?? []) cmd.argument(a.variadic ? `[${a.name}...]` : `[${a.name}]`, a.help);
  for (const [long, o] of Object.entries(spec.options)) {
    const opt = new Option(optionFlags(long, o), o.help);
    if (o.multiple) opt.argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]);
    if (o.type === "string" && o.default !== undefined) opt.default(o.default);
    if (o.hidden) opt.hideHelp();
    cmd.addOption(opt);
  }
  cmd.helpOption("-h, --help", "show this help");
  if (spec.usage) cmd.usage(spec.usage);
  if (spec.kinds) cmd.addHelpText("after", kindsHelp());
  if (spec.passThrough) cmd.passThroughOptions();
  // The commands check how many arguments they take, with their own messages.
  cmd.allowExcessArguments(true);
  return cmd;
}

/** commander's option values back under the long names the spec uses ("no-bfd": true, not bfd: false). */
export function valuesOf(cmd: Command, spec: CommandSpec): Record<string, string | boolean | string[] | undefined> {
  const opts = cmd.opts() as Record<string, unknown>;
  const out: Record<string, string | boolean | string[] | undefined> = {};
  for (const [long, o] of Object.entries(spec.options)) {
    const opt = cmd.options.find((x) => x.long === `--${long}`)!;
    const v = opts[opt.attributeName()];
    if (o.type === "boolean") {
      // "--no-x" and "--x" share commander's attribute x: true, false, or unset (true by default when only --no-x exists)
      const given = long.startsWith("no-") ? v === false : v === true && !(cmd.getOptionValueSource(opt.attributeName()) === "default");
      const b = given ? true : (o.default as boolean | undefined);
      if (b !== undefined) out[long] = b;
    } else if (v !== undefined) {
      out[long] = v as string | string[];
    }
  }
  return out; // absent options are absent, as with node:util parseArgs
}

/** Thrown out of commander (exitOverride) so nothing calls process.exit. */
function quiet(cmd: Command, io: CliIO): Command {
  return cmd.exitOverride().configureOutput({
    writeOut: (s) => void io.stdout.write(s),
    writeErr: (s) => void io.stderr.write(s),
    outputError: () => {},
  });
}

/**
 * Parses a command's argv (the words after "tabby WORDS") with its entry in the tree. Undefined
 * when --help was asked for (the help is on io.stdout by then); usage errors throw UsageError.
 */
export function parseCommandLine<W extends CommandWords>(words: W, argv: string[], io: CliIO): Parsed<W> | undefined {
  const spec: CommandSpec = COMMANDS[words];
  const cmd = quiet(commandFor(`tabby ${words}`, spec), io);
  cmd.action(() => {});
  try {
    cmd.parse(argv, { from: "user" });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === "commander.helpDisplayed" || err.code === "commander.help") return undefined;
      throw new UsageError(`${err.message.replace(/^error: /, "")}\n(tabby ${words} --help lists the options)`);
    }
    throw err;
  }
  const positionals = [...cmd.args];
  const args = spec.args ?? [];
  if (!args.some((a) => a.variadic) && positionals.length > args.length) {
    throw new UsageError(`unexpected argument ${JSON.stringify(positionals[args.length])}\n(tabby ${words} --help lists the arguments)`);
  }
  return { values: valuesOf(cmd, spec) as Values<W>, positionals };
}
