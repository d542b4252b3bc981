/**
 * `tabby ui`'s HTTP server: the page (page.ts), `/api/state` (the map now, JSON; the page polls
 * it) and `/api/explain?src=
 * &dst=[&port=&protocol=]` (explain's text). Binds to loopback unless told otherwise: it shows the
 * network's layout and asks the agents as root, so it is for the operator's own machine. Shell.
 */
import type { Server } from "node:http";
import { http } from "../node-http.js";
import type { LabState } from "../lab/state.js";
import { labExplainContext, type LabExplainContext } from "../explain/lab.js";
import { explainPath } from "../explain/walk.js";
import { formatExplanation } from "../explain/format.js";
import { readMapState, type AgentView, type MapState } from "./state.js";
import { APP_JS, INDEX_HTML } from "./page.js";

export interface UiOptions {
  host: string;
  port: number;
}

export async function serveUi(loadState: () => LabState, opts: UiOptions): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  let current: { ctx: LabExplainContext; map: MapState } | undefined;
  let refreshing: Promise<MapState> | undefined;
  const lastPeers = new Map<string, AgentView["peers"]>();
  // one reading of the lab at a time, shared by the requests that arrive meanwhile
  const refresh = (): Promise<MapState> =>
    (refreshing ??= (async () => {
      try {
        const state = loadState();
        const ctx = await labExplainContext(state);
        const map = await readMapState(state, ctx, lastPeers);
        current = { ctx, map };
        return map;
      } finally {
        refreshing = undefined;
      }
    })());
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const send = (code: number, type: string, body: string) => {
      res.writeHead(code, { "content-type": type, "cache-control": "no-store", "x-content-type-options": "nosniff" });
      res.end(body);
    };
    if (req.method !== "GET") return send(405, "text/plain", "GET only\n");
    if (url.pathname === "/") return send(200, "text/html; charset=utf-8", INDEX_HTML);
    if (url.pathname === "/app.js") return send(200, "text/javascript; charset=utf-8", APP_JS);
    if (url.pathname === "/api/state") {
      void refresh()
        .then((map) => send(200, "application/json", JSON.stringify(map)))
        .catch((e: Error) => send(500, "text/plain", e.message));
      return;
    }
    if (url.pathname === "/api/explain") {
      const src = url.searchParams.get("src");
      const dst = url.searchParams.get("dst");
      const port = url.searchParams.get("port");
      const protocol = (url.searchParams.get("protocol") ?? (port ? "tcp" : "icmp")) as "tcp" | "udp" | "icmp";
      void (async () => {
        const ctx = current?.ctx ?? (await refresh(), current!.ctx);
        const s = src ? ctx.topo.place(src) : undefined;
        const d = dst ? ctx.topo.place(dst) : undefined;
        if (!s || !d || s.kind !== "workload" || d.kind !== "workload") return send(400, "text/plain", "src and dst must be workloads\n");
        const ex = await explainPath(
          {
            src: s,
            dst: d,
            srcAddr: s.addrs[0]!,
            dstAddr: d.addrs.find((a) => a.includes(":") === s.addrs[0]!.includes(":"))!,
            protocol,
            ...(port ? { port: Number(port) } : {}),
            failsafeInbound: ctx.failsafeInbound,
          },
          ctx.topo,
          ctx.oracle,
          ctx.evaluator,
        );
        send(200, "text/plain; charset=utf-8", formatExplanation(ex));
      })().catch((e: Error) => send(500, "text/plain", e.message + "\n"));
      return;
    }
    send(404, "text/plain", "not found\n");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const addr = server.address() as { address: string; port: number };
  const host = addr.address.includes(":") ? `[${addr.address}]` : addr.address;
  return {
    server,
    url: `http://${host}:${addr.port}/`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
