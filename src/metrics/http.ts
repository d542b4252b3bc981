/**
 * The agent's and the speaker's HTTP endpoints: `/metrics` (Prometheus text format) and the
 * health endpoints `/livez`, `/readyz` and Calico's `/liveness`, `/readiness` (200 or 503,
 * each check's state as JSON in the body). One server per host:port; metrics and health on
 * the same address share it. GET and HEAD only; anything else is 404/405.
 */
import type { Server } from "node:http";
import { http } from "../node-http.js";
import type { HealthReport } from "../health/checks.js";
import { TabbyError } from "../errors.js";

export interface HttpRoutes {
  metrics?: { contentType: string; render(): Promise<string> };
  health?: () => HealthReport;
}

const READY = new Set(["/readyz", "/readiness"]);
const LIVE = new Set(["/livez", "/liveness"]);

export function handle(
  routes: HttpRoutes,
  method: string,
  path: string,
): Promise<{ status: number; type: string; body: string }> | { status: number; type: string; body: string } {
  if (method !== "GET" && method !== "HEAD") return { status: 405, type: "text/plain", body: "method not allowed\n" };
  if (path === "/metrics" && routes.metrics) {
    const m = routes.metrics;
    return m.render().then(
      (body) => ({ status: 200, type: m.contentType, body }),
      (err: unknown) => ({ status: 500, type: "text/plain", body: `metrics failed: ${String(err)}\n` }),
    );
  }
  if (routes.health && (READY.has(path) || LIVE.has(path))) {
    const r = routes.health();
    const ok = READY.has(path) ? r.ready : r.live;
    return { status: ok ? 200 : 503, type: "application/json", body: JSON.stringify(r, null, 2) + "\n" };
  }
  return { status: 404, type: "text/plain", body: "not found\n" };
}

/** Listens on host:port (unref'd); rejects with AGENT_HTTP_LISTEN when the address cannot be bound. */
export function serveHttp(host: string, port: number, routes: HttpRoutes): Promise<Server> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0]!;
    void Promise.resolve(handle(routes, req.method ?? "GET", path)).then((r) => {
      res.writeHead(r.status, { "content-type": r.type, "cache-control": "no-store" });
      res.end(req.method === "HEAD" ? undefined : r.body);
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", (err) => reject(new TabbyError("AGENT_HTTP_LISTEN", `cannot listen on ${host}:${port}: ${(err as Error).message}`)));
    // never what keeps a process alive: an agent that fails exits even while serving health
    server.listen(port, host, () => resolve(server.unref()));
  });
}
