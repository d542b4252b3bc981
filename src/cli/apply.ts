/**
 * `tabby apply -f FILE [-f FILE…]`: create or update every resource in the files (YAML or
 * JSON, multi-document, `-` for stdin), like `calicoctl apply`. All documents of all files are
 * parsed and validated before anything is written. Also home of the helpers the other
 * resource verbs (create, delete, get) share.
 */
import { readFile } from "node:fs/promises";
import type { CliIO } from "./command.js";
import { parseFileCommand } from "./file-command.js";
import { withStoreFromArgs } from "./datastore-flag.js";
import { ResourceClient } from "../datastore/resource-client.js";
import { parseManifests, parseSourcedManifests } from "../model/manifest.js";
import type { Resource } from "../model/resource.js";
import { TabbyError } from "../errors.js";
import { resourceKey } from "../model/keys.js";
import { progressTo, writeBatch } from "./write-batch.js";
import { interruptedExitCode, withInterrupt } from "./interrupt.js";
import { manifestText } from "./manifest-input.js";

async function readSource(file: string, io: CliIO): Promise<string> {
  if (file === "-") {
    const stdin = (io as CliIO & { stdin?: NodeJS.ReadableStream }).stdin ?? process.stdin;
    const chunks: Buffer[] = [];
    for await (const chunk of stdin) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer));
    return manifestText(Buffer.concat(chunks), "<stdin>");
  }
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new TabbyError("CLI_FILE", `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { file }, { cause: err });
  }
  return manifestText(bytes, file);
}

/**
 * Reads and validates every resource of every file, all-or-nothing. Namespaced resources
 * without a namespace get `namespace` (calicoctl: -n, else "default").
 */
export async function loadManifests(files: string[], io: CliIO, namespace = "default"): Promise<Resource[]> {
  const texts: [string, string][] = [];
  for (const f of files) texts.push([f === "-" ? "<stdin>" : f, await readSource(f, io)]);
  return texts.flatMap(([source, text]) => parseManifests(text, source, { defaultNamespace: namespace }));
}

/** A resource with the file and document (from 1) it came from, for messages. */
export interface SourcedResource {
  resource: Resource;
  source: string;
  document: number;
}

/**
 * loadManifests, also telling where each resource came from, so an error met while writing
 * (a conflict, an immutable field, the datastore going away) names the file and the document.
 */
export async function loadSourcedManifests(files: string[], io: CliIO, namespace = "default"): Promise<SourcedResource[]> {
  const out: SourcedResource[] = [];
  for (const f of files) {
    const source = f === "-" ? "<stdin>" : f;
    const text = await readSource(f, io);
    // One parse: its errors number the documents and list every problem.
    for (const { resource, document } of parseSourcedManifests(text, source, { defaultNamespace: namespace })) out.push({ resource, source, document });
  }
  return out;
}

/** The datastore key of a sourced resource and its label "FILE: document N: Kind(name)". */
export function sourcedId(s: SourcedResource): { key: string; label: string } {
  const { key, label } = resourceId(s.resource);
  return { key, label: `${s.source}: ${s.document ? `document ${s.document}: ` : ""}${label}` };
}

/** Runs a command body; a TabbyError is printed and becomes exit code 1. */
export async function reportErrors(verb: string, io: CliIO, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof TabbyError) {
      io.stderr.write(`tabby ${verb}: ${err.message} [${err.code}]\n`);
      return err.code === "CLI_INTERRUPTED" ? interruptedExitCode(err.details) : 1;
    }
    throw err;
  }
}

/** Opens the datastore named by --datastore (or the environment), runs `fn` with a client, closes it. */
export function withClient<T>(datastore: string | undefined, io: CliIO, fn: (client: ResourceClient) => Promise<T>): Promise<T> {
  return withStoreFromArgs(datastore, io.env, (store) => fn(new ResourceClient(store)));
}

/** reportErrors + withClient, for commands that need the datastore from the start. */
export function withStore(verb: string, io: CliIO, datastore: string | undefined, body: (client: ResourceClient) => Promise<number>): Promise<number> {
  return reportErrors(verb, io, () => withClient(datastore, io, body));
}

/** "IPPool(pool-a)" or "WorkloadEndpoint(ns/name)" as calicoctl names resources in messages. */
export function describeResource(r: { kind: string; metadata: { name: string; namespace?: string | undefined } }): string {
  return `${r.kind}(${r.metadata.namespace ? `${r.metadata.namespace}/` : ""}${r.metadata.name})`;
}

/** The datastore key and display label of a resource, for writeBatch. */
export function resourceId(r: Resource): { key: string; label: string } {
  return { key: resourceKey(r.kind, r.metadata.name, r.metadata.namespace), label: describeResource(r) };
}

export function partialFailure(verb: string, done: number, total: number, r: Resource, err: TabbyError): TabbyError {
  const head = done > 0 ? `Partial success: ${verb} the first ${done} out of ${total} resources: ` : "";
  return new TabbyError(err.code, `${head}${describeResource(r)}: ${err.message}`, err.details, { cause: err });
}

export async function run(argv: string[], io: CliIO): Promise<number> {
  const args = parseFileCommand(argv, "apply", io);
  if (!args) return 0;
  return reportErrors("apply", io, async () => {
    // Every document of every file is read and validated before the datastore is touched.
    const resources = await loadSourcedManifests(args.files, io, args.namespace);
    return withClient(args.datastore, io, async (client) => {
      // One transaction: a failure or SIGINT/SIGTERM before the commit writes nothing (write-batch.ts).
      const done = await withInterrupt((signal) =>
        writeBatch(client.store, resources, sourcedId, (c, s) => c.apply(s.resource), "applied", {
          signal,
          onProgress: progressTo(io.stderr, "apply", resources.length),
        }),
      );
      io.stdout.write(`Successfully applied ${done} resource(s)\n`);
      return 0;
    });
  });
}
