/** `tabby version` and `tabby --version`: the package version, and the Node.js that runs it. */
import type { CliIO } from "./command.js";
import { tabbyVersion } from "../version.js";
import { SCHEMA_VERSION } from "../datastore/schema.js";
import { parseCommandLine } from "./parse.js";

export async function run(argv: string[], io: CliIO): Promise<number> {
  if (!parseCommandLine("version", argv, io)) return 0;
  io.stdout.write(`tabby ${tabbyVersion()} (datastore schema ${SCHEMA_VERSION}, node ${process.version})\n`);
  return 0;
}
