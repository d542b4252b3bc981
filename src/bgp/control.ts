/**
 * The speaker's control socket: newline-delimited JSON requests and answers over a unix socket.
 * Requests: `{"op":"peers"}`, `{"op":"routes","family":"ipv4"|"ipv6"}`, `{"op":"refresh","peer"?,
 * "family"?}` (ask peers to re-send their routes, RFC 2918/7313), `{"op":"bfd"}` (BFD sessions,
 * where the server runs BFD), and from the agent `{"op":"route-problems"}` (learned routes not in
 * the kernel and why), `{"op":"health"}` (readiness checks, each component's last error),
 * `{"op":"explain-route","dst","src"?,"iif"?}` (the kernel's route to dst now, for `tabby explain`)
 * and `{"op":"flows"}` (flow-log records, for `tabby flows`); `{"op":"memory"}` (RSS, V8 heap by
 * space, external memory: what a route table costs, for the benches). Served by the agent and by `tabby bgp run`; `queryControl` is the client
 * used by `tabby bgp peers|routes`. The socket is for root (or the user running the speaker)
 * only: 0600, in a directory others cannot write.
 */
import * as net from "node:net";
import { chmodSync, existsSync, mkdirSync, statSync, unlinkSync } from "node:fs";
import { dirname } from "node:path";
import { getHeapSpaceStatistics, getHeapStatistics } from "node:v8";
import { BgpError } from "./errors.js";
import type { Speaker } from "./speaker.js";

export const DEFAULT_CONTROL_SOCKET = "/run/tabby/bgp.sock";

export type ControlRequest =
  | { op: "peers" }
  | { op: "route-problems" }
  | { op: "routes"; family?: "ipv4" | "ipv6" }
  | { op: "refresh"; peer?: string; family?: "ipv4" | "ipv6" }
  | { op: "bfd" }
  | { op: "health" }
  | { op: "explain-route"; dst: string; src?: string; iif?: string }
  | { op: "flows" }
  | { op: "memory" };

export type ControlResponse = { ok: true; result: unknown } | { ok: false; error: string };

export type Answerable = Pick<Speaker, "peerStatus" | "routes"> & Partial<Pick<Speaker, "requestRefresh">> & { bfdStatus?(): unknown };

/** What the agent adds to its speaker's control socket. */
export interface ControlExtras {
  /** Learned routes not programmed (unresolvable next hop, kernel refusal) with the reason. */
  routeProblems?(): unknown[];
  /** The agent's readiness checks with each component's last error (src/health/checks.ts). */
  health?(): unknown;
  /** `tabby explain`: how this host's kernel forwards to `dst` now (src/explain/route-lookup.ts). */
  explainRoute?(req: unknown): Promise<unknown>;
  /** `tabby flows`: this host's flow-log records (src/flows/). */
  flows?(): unknown;
}

/**
 * The process's memory in bytes: RSS, V8's heap (total, used, resident, and per space: size, used,
 * resident), what V8 itself has malloc'd (compiler zones and the like), external and ArrayBuffer memory.
 */
export function memoryBreakdown(): Record<string, unknown> {
  const m = process.memoryUsage();
  const h = getHeapStatistics();
  const spaces: Record<string, { size: number; used: number; physical: number }> = {};
  for (const sp of getHeapSpaceStatistics()) spaces[sp.space_name] = { size: sp.space_size, used: sp.space_used_size, physical: sp.physical_space_size };
  return {
    rss: m.rss,
    heapTotal: m.heapTotal,
    heapUsed: m.heapUsed,
    heapPhysical: h.total_physical_size,
    malloced: h.malloced_memory,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
    spaces,
  };
}

export function answer(speaker: Answerable, req: unknown, extras: ControlExtras = {}): ControlResponse {
  const r = req as Partial<{ op: string; family: string; peer: string }>;
  if (r?.op === "route-problems" && extras.routeProblems) return { ok: true, result: extras.routeProblems() };
  if (r?.op === "health" && extras.health) return { ok: true, result: extras.health() };
  if (r?.op === "flows" && extras.flows) return { ok: true, result: extras.flows() };
  if (r?.op === "peers") return { ok: true, result: speaker.peerStatus() };
  if (r?.op === "memory") return { ok: true, result: memoryBreakdown() };
  if (r?.op === "routes") {
    if (r.family !== undefined && r.family !== "ipv4" && r.family !== "ipv6") return { ok: false, error: `unknown family ${r.family}` };
    return { ok: true, result: speaker.routes(r.family) };
  }
  if (r?.op === "refresh" && speaker.requestRefresh) {
    if (r.family !== undefined && r.family !== "ipv4" && r.family !== "ipv6") return { ok: false, error: `unknown family ${r.family}` };
    if (r.peer !== undefined && typeof r.peer !== "string") return { ok: false, error: "peer must be an address" };
    return { ok: true, result: { requests: speaker.requestRefresh(r.peer, r.family) } };
  }
  if (r?.op === "bfd" && speaker.bfdStatus) return { ok: true, result: speaker.bfdStatus() };
  return { ok: false, error: `unknown op ${JSON.stringify(r?.op)}` };
}

/**
 * The one answering code for every transport (this socket, the agent's explain API in
 * src/explain/api.ts): the asynchronous ops (explain-route) and then `answer`.
 */
export async function answerAsync(speaker: Answerable, req: unknown, extras: ControlExtras = {}): Promise<ControlResponse> {
  const r = req as { op?: string } | null;
  if (r?.op === "explain-route" && extras.explainRoute) return { ok: true, result: await extras.explainRoute(req) };
  return answer(speaker, req, extras);
}

/**
 * Why `dir` cannot hold a private socket: another user could write it (replace the socket and
 * answer in our place). Owned by root or by us, not writable by others nor by a non-root group.
 */
export function controlDirProblem(dir: string, st: { mode: number; uid: number; gid: number }, myUid: number): string | undefined {
  const mode = (st.mode & 0o7777).toString(8).padStart(4, "0");
  if (st.uid !== 0 && st.uid !== myUid) return `${dir} is owned by uid ${st.uid}, neither root nor this user`;
  if (st.mode & 0o002) return `${dir} is writable by every user (mode ${mode}); chmod 755 ${dir} or choose another path`;
  if (st.mode & 0o020 && st.gid !== 0) return `${dir} is writable by group ${st.gid} (mode ${mode}); chmod 755 ${dir} or choose another path`;
  return undefined;
}

/**
 * Serves the control socket until the returned server is closed. Replaces a stale socket file.
 * The socket is private (issue 19): mode 0600 from the moment it exists (made under umask
 * 0177), in a directory only root or this user can write; an unsafe directory is refused
 * with BGP_CONTROL_INSECURE.
 */
export async function serveControl(speaker: Answerable, socketPath: string, extras: ControlExtras = {}): Promise<net.Server> {
  const dir = dirname(socketPath);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const problem = controlDirProblem(dir, statSync(dir), process.getuid?.() ?? 0);
  if (problem) throw new BgpError("BGP_CONTROL_INSECURE", `refusing to serve the control socket ${socketPath}: ${problem}`);
  if (existsSync(socketPath)) unlinkSync(socketPath);
  const server = net.createServer((sock) => {
    let buf = "";
    let pending: Promise<void> = Promise.resolve();
    sock.setEncoding("utf8");
    sock.on("data", (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        // answers go out in request order, the asynchronous ones (explain-route) included
        pending = pending.then(async () => {
          let resp: ControlResponse;
          try {
            resp = await answerAsync(speaker, JSON.parse(line), extras);
          } catch (e) {
            resp = { ok: false, error: e instanceof Error ? e.message : String(e) };
          }
          if (!sock.destroyed) sock.write(JSON.stringify(resp) + "\n");
        });
      }
    });
    sock.on("error", () => {});
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    // bind() runs inside listen(), synchronously: the socket file is born 0600
    const umask = process.umask(0o177);
    try {
      server.listen(socketPath, () => {
        server.off("error", reject);
        resolve();
      });
    } finally {
      process.umask(umask);
    }
  });
  chmodSync(socketPath, 0o600);
  return server;
}

export async function queryControl(socketPath: string, request: ControlRequest, timeoutMs = 5000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(socketPath);
    let buf = "";
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new BgpError("BGP_CONTROL_TIMEOUT", `no answer from ${socketPath}`));
    }, timeoutMs);
    sock.setEncoding("utf8");
    sock.on("connect", () => sock.write(JSON.stringify(request) + "\n"));
    sock.on("data", (d: string) => {
      buf += d;
      const nl = buf.indexOf("\n");
      if (nl < 0) return;
      clearTimeout(timer);
      sock.end();
      try {
        const resp = JSON.parse(buf.slice(0, nl)) as ControlResponse;
        if (resp.ok) resolve(resp.result);
        else reject(new BgpError("BGP_CONTROL_ERROR", resp.error));
      } catch (e) {
        reject(new BgpError("BGP_CONTROL_ERROR", `bad answer: ${String(e)}`));
      }
    });
    sock.on("error", (e) => {
      clearTimeout(timer);
      reject(new BgpError("BGP_CONTROL_UNREACHABLE", `cannot reach ${socketPath}: ${e.message}`));
    });
  });
}
