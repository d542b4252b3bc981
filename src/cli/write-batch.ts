/**
 * The write step of `apply`, `create`, `replace` and `delete -f`: every resource through a
 * ResourceClient over a BufferedStore (src/datastore/transaction.ts), then one commit. A failure
 * or an interruption (SIGINT/SIGTERM: `signal`) before the commit writes nothing; a batch the
 * backend cannot take in one transaction goes through the undo journal (undo-log.ts) and is
 * rolled back on a failure or an interruption. Every message says what happened to the datastore.
 */
import { setImmediate as yieldToEvents } from "node:timers/promises";
import { TabbyError } from "../errors.js";
import { ResourceClient } from "../datastore/resource-client.js";
import { BufferedStore, InterruptedError } from "../datastore/transaction.js";
import type { BatchOp, Store } from "../datastore/store.js";
import { UndoLog } from "./undo-log.js";

export interface BatchOptions {
  /** Aborted by SIGINT/SIGTERM (src/cli/interrupt.ts); its reason names the signal. */
  signal?: AbortSignal | undefined;
  /** Told every few hundred resources how far the batch is ("checked": prepared, "written": journal). */
  onProgress?: ((phase: "checked" | "written", done: number, total: number) => void) | undefined;
}

/** How often (in resources) the loop reports progress and lets the event loop run, so a signal is seen promptly. */
const YIELD_EVERY = 200;

function signalName(signal: AbortSignal): string {
  return typeof signal.reason === "string" ? signal.reason : "an interrupt";
}

/**
 * Runs `write` for each item on a buffered client, then commits. `write` returns false for an item
 * it skipped (delete --skip-not-exists). Returns how many items were written.
 */
export async function writeBatch<T>(
  store: Store,
  items: T[],
  id: (item: T) => { key: string; label: string },
  write: (client: ResourceClient, item: T) => Promise<unknown>,
  verb: string,
  opts: BatchOptions = {},
): Promise<number> {
  const tx = new BufferedStore(store);
  const client = new ResourceClient(tx);
  const labels = new Map<string, string>();
  let done = 0;
  for (let i = 0; i < items.length; i++) {
    if (i % YIELD_EVERY === 0 && i > 0) {
      opts.onProgress?.("checked", i, items.length);
      await yieldToEvents();
    }
    if (opts.signal?.aborted) {
      throw new InterruptedError(
        `interrupted by ${signalName(opts.signal)} after ${i} of ${items.length} resource(s) were checked; nothing was written (nothing had been committed)`,
        { signal: opts.signal.reason, checked: i, total: items.length, written: 0 },
      );
    }
    const item = items[i]!;
    const { key, label } = id(item);
    labels.set(key, label);
    try {
      if ((await write(client, item)) !== false) done++;
    } catch (err) {
      if (!(err instanceof TabbyError)) throw err;
      throw new TabbyError(err.code, `${label}: ${err.message} (nothing was changed)`, { ...err.details, rolledBack: true, left: [] }, { cause: err });
    }
  }
  const ops = tx.ops();
  if (opts.signal?.aborted) {
    throw new InterruptedError(`interrupted by ${signalName(opts.signal)} before the commit; nothing was written`, {
      signal: opts.signal.reason,
      checked: items.length,
      total: items.length,
      written: 0,
    });
  }
  if (!ops.length) return done;
  if (store.commitBatch && (store.maxBatchOps === undefined || ops.length <= store.maxBatchOps)) {
    try {
      await store.commitBatch(ops);
    } catch (err) {
      if (err instanceof TabbyError && err.code === "DS_CONFLICT") {
        throw new TabbyError(
          "DS_CONFLICT",
          `another writer changed a resource of the input while it was being ${verb} (${err.message}); nothing was changed: run the command again`,
          err.details,
          { cause: err },
        );
      }
      if (err instanceof TabbyError)
        throw new TabbyError(err.code, `the commit of ${ops.length} write(s) failed: ${err.message}; nothing was changed`, err.details, { cause: err });
      throw err;
    }
    return done;
  }
  await journal(store, ops, labels, verb, opts);
  return done;
}

/** Writes `ops` one by one under an undo log; on a failure or an interruption undoes them all. */
async function journal(store: Store, ops: BatchOp[], labels: Map<string, string>, verb: string, opts: BatchOptions): Promise<void> {
  const log = new UndoLog(store);
  const undo = async (head: string, code: string, n: number, cause?: unknown): Promise<never> => {
    const left = await log.rollback();
    const tail = left.length
      ? `rolled back what could be; still ${verb}: ${left.join(", ")}`
      : n
        ? `the ${n} write(s) made before it were rolled back; nothing was changed`
        : "nothing was changed";
    const details = { rolledBack: left.length === 0, left, ...(code === "CLI_INTERRUPTED" ? { signal: opts.signal?.reason } : {}) };
    if (code === "CLI_INTERRUPTED") throw new InterruptedError(`${head} (${tail})`, details);
    throw new TabbyError(code, `${head} (${tail})`, details, cause === undefined ? undefined : { cause });
  };
  for (let i = 0; i < ops.length; i++) {
    if (i % YIELD_EVERY === 0 && i > 0) {
      opts.onProgress?.("written", i, ops.length);
      await yieldToEvents();
    }
    if (opts.signal?.aborted) await undo(`interrupted by ${signalName(opts.signal)} after ${i} of ${ops.length} write(s)`, "CLI_INTERRUPTED", i);
    const op = ops[i]!;
    const label = labels.get(op.key) ?? op.key;
    const step = await log.before(op.key, label);
    try {
      if (op.value === undefined) {
        await store.delete(op.key, { revision: op.expect });
        step.deleted();
      } else if (op.expect === 0) step.done((await store.create(op.key, op.value)).revision);
      else step.done((await store.update(op.key, op.value, { revision: op.expect })).revision);
    } catch (err) {
      step.failed();
      if (!(err instanceof TabbyError)) throw err;
      await undo(`${label}: ${err.message}`, err.code, i, err);
    }
  }
}

/** Progress lines on stderr for a large batch (from 1,000 resources), every 10,000 (journal: every 200). */
export function progressTo(stderr: NodeJS.WritableStream, verb: string, total: number): BatchOptions["onProgress"] {
  if (total < 1000) return undefined;
  return (phase, done, n) => {
    if (phase === "written" || done % 10_000 === 0) stderr.write(`tabby ${verb}: ${done} of ${n} resource(s) ${phase}\n`);
  };
}
