/**
 * The agent's HTTP endpoints as a set that follows its configuration: metrics and health on
 * their addresses (one server when both share one), reconfigured in place — servers whose
 * address or routes changed are closed and opened again, the others keep running. The agent
 * serves health on the defaults from the moment it starts (so /readyz answers 503 while the
 * datastore is still out of reach) and applies FelixConfiguration's values once it can read them.
 */
import type * as http from "node:http";
import type { ObservabilityConfig } from "../health/config.js";
import { serveHttp, type HttpRoutes } from "./http.js";

type Log = (level: "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => void;

export class HttpEndpoints {
  private readonly servers = new Map<string, { server: http.Server; paths: string }>();

  constructor(
    private readonly routes: Required<HttpRoutes>,
    private readonly log: Log,
    private readonly serve: typeof serveHttp = serveHttp,
  ) {}

  /** Opens and closes servers so that exactly `cfg`'s endpoints are served. Errors are logged and returned. */
  async apply(cfg: ObservabilityConfig): Promise<string[]> {
    const want = new Map<string, HttpRoutes>();
    if (cfg.metrics) want.set(`${cfg.metrics.host} ${cfg.metrics.port}`, { metrics: this.routes.metrics });
    if (cfg.health) {
      const k = `${cfg.health.host} ${cfg.health.port}`;
      want.set(k, { ...want.get(k), health: this.routes.health });
    }
    const pathsOf = (r: HttpRoutes) => [...(r.metrics ? ["/metrics"] : []), ...(r.health ? ["/livez", "/readyz", "/liveness", "/readiness"] : [])].join(" ");
    for (const [k, s] of this.servers) {
      const w = want.get(k);
      if (w && pathsOf(w) === s.paths) continue;
      await new Promise<void>((r) => s.server.close(() => r()));
      this.servers.delete(k);
    }
    const errors: string[] = [];
    for (const [k, routes] of want) {
      if (this.servers.has(k)) continue;
      const [host, port] = k.split(" ") as [string, string];
      const address = `${host.includes(":") ? `[${host}]` : host}:${port}`;
      try {
        this.servers.set(k, { server: await this.serve(host, Number(port), routes), paths: pathsOf(routes) });
        this.log("info", "serving", { address, paths: pathsOf(routes).split(" ") });
      } catch (err) {
        this.log("error", "cannot serve metrics/health", { address, err: String(err) });
        errors.push(String(err));
      }
    }
    return errors;
  }

  /** What is served now: "host port" → paths (for tests and logs). */
  serving(): Map<string, string> {
    return new Map([...this.servers].map(([k, s]) => [k, s.paths]));
  }

  async close(): Promise<void> {
    await this.apply({});
  }
}
