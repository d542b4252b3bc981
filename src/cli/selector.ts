/**
 * `tabby selector EXPR [--labels k=v,k2=v2]... [-o text|json]`: parse a Calico selector, print
 * whether it matches the given labels (`true`/`false`), or, without --labels, its canonical form
 * and unique ID. `-o json` prints all of it as one JSON object. A parse error prints the input with
 * a caret under the position and exits 1. (`--endpoints`, listing matching endpoints from the
 * datastore, is reserved for when the datastore is wired in.)
 */
import { parseArgs } from "node:util";
import type { CliIO } from "./command.js";
import { UsageError } from "./command.js";
import { parseSelector, SelectorError } from "../selector/index.js";

export const USAGE = "usage: tabby selector EXPR [--labels k=v[,k=v…]]... [-o text|json]";

/** Parses "k=v,k2=v2" lists (values may contain '=' but not ','); later keys win. */
export function parseLabelList(specs: string[]): Record<string, string> {
  const labels: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const spec of specs) {
    for (const item of spec.split(",")) {
      if (item === "") continue;
      const eq = item.indexOf("=");
      if (eq <= 0) throw new UsageError(`bad label "${item}": expected key=value\n${USAGE}`);
      labels[item.slice(0, eq)] = item.slice(eq + 1);
    }
  }
  return labels;
}

/** The input with a caret under `position`; tabs kept in the padding so the caret lines up. */
export function caretLines(input: string, position: number): string {
  const shown = input.replace(/[\x00-\x08\x0a-\x1f\x7f]/g, "?");
  const pad = shown.slice(0, position).replace(/[^\t]/g, " ");
  return `  ${shown}\n  ${pad}^\n`;
}

export async function run(argv: string[], io: CliIO): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        labels: { type: "string", short: "l", multiple: true },
        output: { type: "string", short: "o", default: "text" },
        endpoints: { type: "boolean", default: false },
      },
    });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n${USAGE}`);
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1) {
    throw new UsageError(`expected exactly one selector expression (quote it), got ${positionals.length}\n${USAGE}`);
  }
  const output = values.output;
  if (output !== "text" && output !== "json") throw new UsageError(`-o must be text or json, not "${output}"`);
  if (values.endpoints) {
    throw new UsageError("--endpoints needs a datastore (--datastore URL or TABBY_DATASTORE); it is not available in this build yet");
  }
  const expr = positionals[0]!;
  const labels = values.labels !== undefined ? parseLabelList(values.labels) : undefined;

  let sel;
  try {
    sel = parseSelector(expr);
  } catch (err) {
    if (!(err instanceof SelectorError)) throw err;
    if (output === "json") {
      io.stdout.write(
        `${JSON.stringify({ input: expr, error: { code: err.code, message: err.message, position: err.position } })}\n`,
      );
    }
    io.stderr.write(`tabby selector: ${err.message}\n${caretLines(expr, err.position)}`);
    return 1;
  }

  const matches = labels !== undefined ? sel.matches(labels) : undefined;
  if (output === "json") {
    const out: Record<string, unknown> = { input: expr, selector: sel.toString(), uniqueId: sel.uniqueId() };
    if (labels !== undefined) {
      out["labels"] = { ...labels };
      out["matches"] = matches;
    }
    io.stdout.write(`${JSON.stringify(out)}\n`);
  } else if (matches !== undefined) {
    io.stdout.write(`${matches}\n`);
  } else {
    io.stdout.write(`${sel.toString()}\n${sel.uniqueId()}\n`);
  }
  return 0;
}
