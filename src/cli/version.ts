/** `tabby version`: the package version. */
import { readFileSync } from "node:fs";
import type { CliIO } from "./command.js";

export async function run(_argv: string[], io: CliIO): Promise<number> {
  const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string };
  io.stdout.write(`tabby ${pkg.version}\n`);
  return 0;
}
