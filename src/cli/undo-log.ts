/**
 * The journal for multi-resource writes too large for one backend transaction (write-batch.ts:
 * more than etcd's 128 operations). Before each write the command records the key's previous KV;
 * if a later write fails, or SIGINT/SIGTERM arrives, `rollback` puts back every earlier key (a
 * deleted one is created again), newest first, each with compare-and-swap on the revision our
 * write produced, so a change someone else made since is never overwritten (that key is reported
 * instead).
 *
 * What can still be partial, and is reported: watchers saw the intermediate states; a key another
 * writer changed after us keeps their change; the write that failed with DS_UNAVAILABLE may or
 * may not have been applied (it is checked and undone when it was); and if the store stays
 * unreachable, nothing can be rolled back and the message lists what remains written.
 */
import { TabbyError } from "../errors.js";
import type { KV, Store } from "../datastore/store.js";

interface Entry {
  key: string;
  label: string;
  before: KV | undefined;
  /** Revision our write produced; "deleted" when it was a delete; "failed" when the write threw (its outcome may be unknown). */
  written: number | "deleted" | "failed" | undefined;
}

export class UndoLog {
  private readonly entries: Entry[] = [];
  constructor(private readonly store: Store) {}

  /** Reads and remembers `key`'s state before a write; call `done` with the write's revision. */
  async before(key: string, label: string): Promise<{ done(revision: number): void; deleted(): void; failed(): void }> {
    const e: Entry = { key, label, before: await this.store.get(key), written: undefined };
    this.entries.push(e);
    return {
      done: (revision) => void (e.written = revision),
      deleted: () => void (e.written = "deleted"),
      failed: () => void (e.written = "failed"),
    };
  }

  /** How many writes are recorded (and would be undone). */
  get size(): number {
    return this.entries.length;
  }

  /**
   * Undoes every recorded write, newest first. Returns labels of what could not be restored
   * (with the reason); an empty list means the store is as it was before the first write.
   */
  async rollback(): Promise<string[]> {
    const left: string[] = [];
    for (const e of [...this.entries].reverse()) {
      try {
        const cur = await this.store.get(e.key);
        const ours = e.written;
        if (ours === "deleted") {
          // put back what we deleted, unless someone has created the key again since
          if (cur) left.push(`${e.label} (created again by someone else since; left as it is)`);
          else if (e.before) await this.store.create(e.key, e.before.value);
          continue;
        }
        if (ours === "failed" || ours === undefined) {
          // The write failed: if the key is unchanged, nothing to undo. If it changed, it may be
          // our unacknowledged write or someone else's: it is left alone and reported.
          if (cur?.revision === e.before?.revision) continue;
          left.push(`${e.label} (changed while its write failed; left as it is)`);
          continue;
        }
        if (!cur) {
          if (e.before) left.push(`${e.label} (deleted by someone else since)`);
          continue;
        }
        if (cur.revision !== ours) {
          left.push(`${e.label} (changed by someone else since; left as it is)`);
          continue;
        }
        if (e.before) await this.store.update(e.key, e.before.value, { revision: ours });
        else await this.store.delete(e.key, { revision: ours });
      } catch (err) {
        left.push(`${e.label} (${err instanceof TabbyError ? err.code : String(err)})`);
      }
    }
    this.entries.length = 0;
    return left;
  }
}
