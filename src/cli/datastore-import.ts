/**
 * `tabby datastore import -f FILE [--force]`: writes what `tabby datastore export` wrote into the
 * datastore named by --datastore (typically another backend). The whole file is parsed and
 * validated first; an error names the file, the document and the field path and writes nothing.
 * A target that already holds keys under /calico/ is refused unless --force, which overwrites
 * keys present in the file (and leaves other keys alone). A write failing mid-way rolls back the
 * earlier ones (src/cli/undo-log.ts says what can still remain).
 */
import { readFile } from "node:fs/promises";
import type { CliIO } from "./command.js";
import { UsageError } from "./command.js";
import { reportErrors, withClient } from "./apply.js";
import { parseCommandLine } from "./parse.js";
import { DUMP_ROOT, parseDump } from "./datastore-dump.js";
import { progressTo, writeBatch } from "./write-batch.js";
import { withInterrupt } from "./interrupt.js";
import { DatastoreError } from "../datastore/store.js";
import { TabbyError } from "../errors.js";

const USAGE = "tabby datastore import -f FILE [--force] [--datastore URL]";

export async function run(argv: string[], io: CliIO): Promise<number> {
  const parsed = parseCommandLine("datastore import", argv, io);
  if (!parsed) return 0;
  const { values, positionals } = parsed;
  const file = values.filename as string | undefined;
  if (!file) throw new UsageError(`-f FILE is required\nusage: ${USAGE}`);
  if (positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}\nusage: ${USAGE}`);
  return reportErrors("datastore import", io, async () => {
    let text: string;
    try {
      text = file === "-" ? await readStdin(io) : await readFile(file, "utf8");
    } catch (err) {
      throw new TabbyError("CLI_FILE", `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { file }, { cause: err });
    }
    const entries = parseDump(text, file === "-" ? "<stdin>" : file);
    return withClient(values.datastore as string | undefined, io, async (client) => {
      const store = client.store;
      const existing = await store.list(DUMP_ROOT, { limit: 1 });
      if (existing.items.length && values.force !== true) {
        throw new DatastoreError(
          "DS_ALREADY_EXISTS",
          `the target datastore ${store.url} is not empty (it has ${existing.items[0]!.key}); nothing was imported (--force overwrites)`,
        );
      }
      // One transaction (etcd: a journal past 128 keys), as apply; SIGINT/SIGTERM writes nothing.
      const done = await withInterrupt((signal) =>
        writeBatch(
          store,
          entries,
          (e) => ({ key: e.key, label: e.label }),
          (c, e) => (values.force === true ? c.store.put(e.key, e.value) : c.store.create(e.key, e.value)),
          "imported",
          {
            signal,
            onProgress: progressTo(io.stderr, "datastore import", entries.length),
          },
        ),
      );
      io.stdout.write(`Imported ${done} key(s) into ${store.url}\n`);
      return 0;
    });
  });
}

async function readStdin(io: CliIO): Promise<string> {
  const stdin = (io as CliIO & { stdin?: NodeJS.ReadableStream }).stdin ?? process.stdin;
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString("utf8");
}
