/**
 * The BFD worker thread's entry (started by worker-client.ts): the BfdService (service.ts) and
 * its UDP sockets (udp.ts) on this thread's own event loop and timers, so that a main thread
 * busy for longer than a detection time (a big policy render, a GC pause, a route dump) neither
 * delays our packets nor makes us miss the peer's — as BIRD runs BFD in its own thread. A thin
 * shell: it turns the main thread's messages (worker-protocol.ts) into watch/close calls and
 * posts back each Down, the log, and a status snapshot whenever a session changed.
 */
import { parentPort, workerData } from "node:worker_threads";
import { TabbyError } from "../errors.js";
import { BfdError } from "./errors.js";
import { BfdService } from "./service.js";
import { UdpTransport } from "./udp.js";
import type { BfdWorkerData, FromWorker, ToWorker } from "./worker-protocol.js";

const port = parentPort;
if (!port) throw new BfdError("BFD_WORKER", "bfd/worker.js runs as a worker thread only");
const data = workerData as BfdWorkerData;
const post = (m: FromWorker) => port.postMessage(m);

const log = (level: "debug" | "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => {
  if (level !== "debug" || data.debug) post({ op: "log", level, msg, ...(fields ? { fields } : {}) });
};

// the snapshot: one post per turn however many sessions changed in it
let pending = false;
const changed = () => {
  if (pending) return;
  pending = true;
  setImmediate(() => {
    pending = false;
    post({ op: "status", sessions: service.status() });
  });
};

const transport = new UdpTransport({
  log,
  ...(data.singleHopPort !== undefined ? { singleHopPort: data.singleHopPort } : {}),
  ...(data.multihopPort !== undefined ? { multihopPort: data.multihopPort } : {}),
});
const service = new BfdService(transport, { log, onChange: changed });
const watches = new Map<number, { close(): void }>();

port.on("message", (m: ToWorker) => {
  switch (m.op) {
    case "watch":
      try {
        watches.set(
          m.id,
          service.watch(m.peer, m.local, m.opts, (reason) => post({ op: "down", id: m.id, reason })),
        );
      } catch (e) {
        post({ op: "refused", id: m.id, code: e instanceof TabbyError ? e.code : "BFD_WORKER", message: e instanceof Error ? e.message : String(e) });
      }
      return;
    case "unwatch":
      watches.get(m.id)?.close();
      watches.delete(m.id);
      return;
    case "close":
      watches.clear();
      void service.close().finally(() => {
        post({ op: "closed" });
        port.close();
      });
      return;
  }
});
