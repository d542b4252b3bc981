/**
 * The messages between the main thread's BfdWorker (worker-client.ts) and the BFD worker thread
 * (worker.ts), over the worker's MessagePort. Types only: structured clone carries them.
 */
import type { BfdOptions } from "./options.js";
import type { BfdSessionStatus } from "./service.js";

/** What the worker is started with (`workerData`). */
export interface BfdWorkerData {
  singleHopPort?: number;
  multihopPort?: number;
  /** Forward debug-level log lines too (else info and above only). */
  debug: boolean;
}

/** Main thread → worker. `id` names one watch (the main thread's numbering). */
export type ToWorker =
  | { op: "watch"; id: number; peer: string; local: string | undefined; opts: BfdOptions }
  | { op: "unwatch"; id: number }
  /** End every session (AdminDown to each peer) and close the sockets; answered by `closed`. */
  | { op: "close" };

/** Worker → main thread. */
export type FromWorker =
  /** Every session, posted whenever one changed (what BfdWorker.status() returns). */
  | { op: "status"; sessions: BfdSessionStatus[] }
  /** The session of watch `id` went from Up to Down (not by the peer's AdminDown). */
  | { op: "down"; id: number; reason: string }
  /** The worker could not take watch `id` (its BfdError's code and message). */
  | { op: "refused"; id: number; code: string; message: string }
  | { op: "log"; level: "debug" | "info" | "warn" | "error"; msg: string; fields?: Record<string, unknown> }
  | { op: "closed" };
