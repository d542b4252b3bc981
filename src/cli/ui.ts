/**
 * `tabby ui [--listen ADDR:PORT] [--name LAB]`: serves the live map of a lab (src/ui/) until
 * interrupted. Default 127.0.0.1:9098 (9099 is the agent's health port); another address must be given on purpose.
 */
import { parseCommandLine } from "./parse.js";
import type { CliIO } from "./command.js";
import { UsageError } from "./command.js";
import { requireLab } from "./lab-common.js";
import { serveUi } from "../ui/server.js";
import { DEFAULT_UI_LISTEN } from "../ui/listen.js";

export async function run(argv: string[], io: CliIO): Promise<number> {
  const parsed = parseCommandLine("ui", argv, io);
  if (!parsed) return 0;
  const { values } = parsed;
  const listen = values.listen ?? DEFAULT_UI_LISTEN;
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(listen);
  if (!m || Number(m[2]) > 65535) throw new UsageError(`--listen must be ADDRESS:PORT, not ${listen}`);
  const labName = requireLab(values.name).name;
  const ui = await serveUi(() => requireLab(labName), { host: m[1] || "127.0.0.1", port: Number(m[2]) });
  io.stdout.write(`tabby ui: the map of lab ${labName} at ${ui.url}\n`);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await ui.close();
  return 0;
}
