/**
 * Calico's ReleaseAffinity (libcalico-go `ipam_block_reader_writer.go` releaseBlockAffinity),
 * shared by leak collection (./collect.ts) and by a claim that takes over another host's empty
 * block (./claim.ts). Every step is compare-and-swap on the revision last read or written.
 */
import { hasCode } from "../errors.js";
import type { Store } from "../datastore/store.js";
import { affinityKey, blockKey, decodeBlock, encodeAffinity, encodeBlock } from "./keys.js";

const quiet = (e: unknown) => hasCode(e, "DS_NOT_FOUND") || hasCode(e, "DS_CONFLICT") || hasCode(e, "DS_ALREADY_EXISTS");

/**
 * Calico's ReleaseAffinity: affinity → pendingDeletion; then the block is deleted when empty, or
 * (unless `mustBeEmpty`) rewritten with no affinity; then the affinity is deleted — or, when an
 * empty block was wanted and it no longer was, put back to confirmed. Every step is CAS; the
 * last one at the revision of our own pendingDeletion write. True when the block was deleted or
 * unaffined.
 */
export async function releaseBlockAffinity(store: Store, cidr: string, host: string | undefined, mustBeEmpty: boolean): Promise<boolean> {
  const akey = host !== undefined ? affinityKey(host, cidr) : undefined;
  let marked: number | undefined;
  if (akey) {
    const a = await store.get(akey);
    if (a) {
      try {
        marked = (await store.update(akey, encodeAffinity({ state: "pendingDeletion", deleted: false }), { revision: a.revision })).revision;
      } catch (e) {
        if (!quiet(e)) throw e;
        return false;
      }
    }
  }
  const kv = await store.get(blockKey(cidr));
  let done = false;
  if (kv) {
    const b = decodeBlock(kv.value);
    const empty = !b.allocations.some((x) => x !== null);
    const ours = host === undefined ? b.affinity == null || !b.affinity.startsWith("host:") : b.affinity === `host:${host}`;
    try {
      if (empty) {
        await store.delete(blockKey(cidr), { revision: kv.revision });
        done = true;
      } else if (!mustBeEmpty && ours && b.affinity != null) {
        await store.update(blockKey(cidr), encodeBlock({ ...b, affinity: null, affinityClaimTime: null }), { revision: kv.revision });
        done = true;
      }
    } catch (e) {
      if (!quiet(e)) throw e;
    }
  }
  if (akey && marked !== undefined) {
    try {
      if (done || !kv) await store.delete(akey, { revision: marked });
      else await store.update(akey, encodeAffinity({ state: "confirmed", deleted: false }), { revision: marked });
    } catch (e) {
      if (!quiet(e)) throw e;
    }
  }
  return done;
}
