/**
 * `tabby datastore export [-o FILE] [--format yaml|json]`: writes every Calico v3 resource and
 * every other key under /calico/ (IPAM blocks, affinities, handles) to one YAML stream or JSON
 * array (format in src/cli/datastore-dump.ts), for `tabby datastore import` into another
 * backend. Reads page by page at one revision's worth of consistency per page (the Store contract
 * has no snapshot read across pages); export a store nobody writes to for an exact copy.
 */
import { writeFile } from "node:fs/promises";
import type { CliIO } from "./command.js";
import { UsageError } from "./command.js";
import { withStore } from "./apply.js";
import { parseCommandLine } from "./parse.js";
import { DUMP_ROOT, docOfKV, renderDump, type DumpDoc } from "./datastore-dump.js";
import { TabbyError } from "../errors.js";

const USAGE = "tabby datastore export [-o FILE] [--format yaml|json] [--datastore URL]";

export async function run(argv: string[], io: CliIO): Promise<number> {
  const parsed = parseCommandLine("datastore export", argv, io);
  if (!parsed) return 0;
  const { values, positionals } = parsed;
  if (positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}\nusage: ${USAGE}`);
  const file = values.output as string | undefined;
  const format = (values.format as string | undefined) ?? (file?.endsWith(".json") ? "json" : "yaml");
  if (format !== "yaml" && format !== "json") throw new UsageError(`unknown format ${JSON.stringify(format)} (yaml or json)`);
  return withStore("datastore export", io, values.datastore as string | undefined, async (client) => {
    const docs: DumpDoc[] = [];
    let skipped = 0;
    let startAfter: string | undefined;
    for (;;) {
      const page = await client.store.list(DUMP_ROOT, startAfter === undefined ? { limit: 500 } : { limit: 500, startAfter });
      for (const kv of page.items) {
        const d = docOfKV(kv);
        if (d) docs.push(d);
        else skipped++;
      }
      if (!page.more || !page.items.length) break;
      startAfter = page.items.at(-1)!.key;
    }
    const text = renderDump(docs, format);
    if (file === undefined || file === "-") io.stdout.write(text);
    else {
      try {
        await writeFile(file, text);
      } catch (err) {
        throw new TabbyError("CLI_FILE", `cannot write ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { file }, { cause: err });
      }
    }
    io.stderr.write(`Exported ${docs.length} key(s)${skipped ? ` (${skipped} leased key(s) skipped)` : ""}\n`);
    return 0;
  });
}
