/**
 * The plugin's HTTP server on a unix socket (Docker plugin discovery: `<dir>/<name>.sock`, default
 * /run/docker/plugins/tabby.sock). Every call is a POST of JSON; answers are JSON with content
 * type application/vnd.docker.plugins.v1.2+json; an error is HTTP 500 with `{"Err": message}`.
 * Calls are answered one at a time, in order (the driver's state is per endpoint, and IPAM runs
 * under the host's IPAM lock anyway).
 */
import type { Server } from "node:http";
import { http } from "../node-http.js";
import { mkdir, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { errorBody } from "./protocol.js";

export const PLUGIN_CONTENT_TYPE = "application/vnd.docker.plugins.v1.2+json";

export type Handler = (path: string, body: Record<string, unknown>) => Promise<Record<string, unknown>>;

export async function servePlugin(
  socketPath: string,
  handle: Handler,
  log?: (level: string, msg: string, f?: Record<string, unknown>) => void,
): Promise<Server> {
  await mkdir(dirname(socketPath), { recursive: true, mode: 0o755 });
  await rm(socketPath, { force: true });
  let queue: Promise<unknown> = Promise.resolve();
  const server = http.createServer((req, res) => {
    let text = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => (text += c));
    req.on("end", () => {
      const path = (req.url ?? "").split("?")[0]!;
      const run = async () => {
        let status = 200;
        let out: Record<string, unknown>;
        try {
          if (req.method !== "POST") throw new Error(`${req.method} ${path}: plugin calls are POSTs`);
          const body = text.trim() ? (JSON.parse(text) as unknown) : {};
          if (typeof body !== "object" || body === null || Array.isArray(body)) throw new Error("the request body is not a JSON object");
          out = await handle(path, body as Record<string, unknown>);
          log?.("debug", "call", { path });
        } catch (e) {
          status = 500;
          out = errorBody(e);
          log?.("warn", "call failed", { path, code: (e as { code?: string }).code, err: out.Err });
        }
        const data = JSON.stringify(out);
        res.writeHead(status, { "Content-Type": PLUGIN_CONTENT_TYPE, "Content-Length": Buffer.byteLength(data) });
        res.end(data);
      };
      queue = queue.then(run, run);
    });
  });
  // dockerd's client keeps idle connections and POSTs are not retried: a server that closes an
  // idle connection as a call is sent on it fails that call (EPIPE). Keep them open instead.
  server.keepAliveTimeout = 0;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, () => resolve());
  });
  return server;
}
