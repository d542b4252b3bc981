/**
 * Leader election through a datastore lease (what Kubernetes' leader election does for Calico's
 * kube-controllers, here over the Store contract): the leader holds a key created with
 * create-if-absent and attached to a lease; it renews the lease while it runs. When the leader
 * dies its lease expires, the store deletes the key, and the next candidate's create succeeds.
 * A leader that stops cleanly revokes its lease, so another takes over at once.
 *
 * A leader that stalls past the lease's TTL can briefly overlap its successor; what a leader
 * does must therefore be safe to do twice (the IPAM collector's writes are all compare-and-swap).
 */
import { hasCode } from "../errors.js";
import type { Store } from "../datastore/store.js";

export interface LeaderElectorOptions {
  /** Key the leader holds, e.g. "/tabby/leader/ipam-gc". */
  key: string;
  /** Who we are (written as the key's value), e.g. "node-1/1234". */
  identity: string;
  /** Lease TTL in seconds (default 30). Call step() well within it (every TTL/3). */
  ttlSeconds?: number;
}

export class LeaderElector {
  private lease: number | undefined;
  readonly ttlSeconds: number;

  constructor(
    private readonly store: Store,
    private readonly opts: LeaderElectorOptions,
  ) {
    this.ttlSeconds = opts.ttlSeconds ?? 30;
  }

  get isLeader(): boolean {
    return this.lease !== undefined;
  }

  /**
   * Renews leadership if we hold it, else tries to take it. Resolves to whether we lead now.
   * Datastore errors other than losing the race leave us a follower and are thrown.
   */
  async step(): Promise<boolean> {
    if (this.lease !== undefined) {
      try {
        await this.store.keepAlive(this.lease);
        const kv = await this.store.get(this.opts.key);
        if (kv && kv.lease === this.lease && kv.value === this.opts.identity) return true;
      } catch (err) {
        if (!hasCode(err, "DS_NOT_FOUND")) {
          // Cannot tell whether the lease still runs: act as a follower until we can.
          this.lease = undefined;
          throw err;
        }
      }
      this.lease = undefined; // expired: someone else may lead now
    }
    // A follower looks before it tries: while a leader holds the key (its lease not expired: the
    // store deletes the key of an expired lease before any read), trying costs two writes (a
    // lease granted and revoked) that every watcher of the store sees. Reading costs none.
    if (await this.store.get(this.opts.key)) return false;
    const lease = await this.store.grantLease(this.ttlSeconds);
    try {
      await this.store.create(this.opts.key, this.opts.identity, { lease });
      this.lease = lease;
      return true;
    } catch (err) {
      await this.store.revokeLease(lease).catch(() => undefined);
      if (hasCode(err, "DS_ALREADY_EXISTS")) return false;
      throw err;
    }
  }

  /** Gives leadership up (revokes the lease, deleting the key). */
  async resign(): Promise<void> {
    const lease = this.lease;
    this.lease = undefined;
    if (lease !== undefined) await this.store.revokeLease(lease).catch(() => undefined);
  }

  /** Who leads now, if anyone (the key's value). */
  async leader(): Promise<string | undefined> {
    return (await this.store.get(this.opts.key))?.value;
  }
}
