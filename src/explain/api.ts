/**
 * The agent's explain API (issue 14 part 3, issue 19 part 4): `tabby explain` asks each agent on
 * a path over the network. HTTPS with mutual TLS (RFC 8446 client authentication): the agent
 * presents its server certificate and answers only a client whose certificate chains to the
 * configured CA — no certificate, or one from another CA, and the TLS handshake fails before any
 * request is read. Off unless `node run --explain-listen ADDR:PORT` with the three TLS files; bound
 * to that address only. Read-only: `POST /v1/control` with one control request (the same JSON as
 * the control socket, src/bgp/control.ts) for the ops explain needs — `explain-route`, `peers`,
 * `route-problems` — answered by the control socket's own code (`answerAsync`). Every other op is
 * refused with 403. `queryExplainApi` is the client `tabby explain` uses.
 */
import * as https from "node:https";
import { readFileSync } from "node:fs";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import type { AddressInfo } from "node:net";
import { TabbyError } from "../errors.js";
import { answerAsync, type Answerable, type ControlExtras, type ControlRequest, type ControlResponse } from "../bgp/control.js";

/** The ops the explain API answers: all read-only. */
export const EXPLAIN_API_OPS: readonly string[] = ["explain-route", "peers", "route-problems"];
export { DEFAULT_EXPLAIN_PORT } from "../ports.js";
export const EXPLAIN_API_PATH = "/v1/control";
const MAX_BODY = 64 * 1024;

export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
}

export { parseListen, type Listen } from "./listen.js";
import type { Listen } from "./listen.js";

function readTls(files: TlsFiles, code: string): { ca: Buffer; cert: Buffer; key: Buffer } {
  const read = (what: string, f: string): Buffer => {
    try {
      return readFileSync(f);
    } catch (e) {
      throw new TabbyError(code, `cannot read the explain API's TLS ${what} ${f}: ${(e as Error).message}`);
    }
  };
  return { ca: read("CA", files.ca), cert: read("certificate", files.cert), key: read("key", files.key) };
}

/** Serves the explain API until the returned server is closed. */
export async function serveExplainApi(listen: Listen, tls: TlsFiles, speaker: Answerable, extras: ControlExtras): Promise<https.Server> {
  const server = https.createServer(
    { ...readTls(tls, "AGENT_EXPLAIN_TLS"), requestCert: true, rejectUnauthorized: true, minVersion: "TLSv1.2" },
    (req, res) => {
      const reply = (status: number, body: ControlResponse) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(body) + "\n");
      };
      // the handshake already refused unverified clients; this is a second lock on the same door
      if (!(req.socket as { authorized?: boolean }).authorized)
        return reply(401, { ok: false, error: "a client certificate from the configured CA is required" });
      if (req.url !== EXPLAIN_API_PATH) return reply(404, { ok: false, error: `no such path ${req.url}; POST ${EXPLAIN_API_PATH}` });
      if (req.method !== "POST") return reply(405, { ok: false, error: `POST ${EXPLAIN_API_PATH}` });
      let body = "";
      let tooBig = false;
      req.setEncoding("utf8");
      req.on("data", (d: string) => {
        body += d;
        if (body.length > MAX_BODY && !tooBig) {
          tooBig = true;
          reply(413, { ok: false, error: "request too large" });
          req.destroy();
        }
      });
      req.on("end", () => {
        if (tooBig) return;
        let request: { op?: unknown };
        try {
          request = JSON.parse(body) as { op?: unknown };
        } catch (e) {
          return reply(400, { ok: false, error: `bad JSON: ${(e as Error).message}` });
        }
        if (typeof request?.op !== "string" || !EXPLAIN_API_OPS.includes(request.op)) {
          return reply(403, { ok: false, error: `the explain API is read-only and answers ${EXPLAIN_API_OPS.join(", ")}, not ${JSON.stringify(request?.op)}` });
        }
        answerAsync(speaker, request, extras).then(
          (r) => reply(r.ok ? 200 : 400, r),
          (e: unknown) => reply(500, { ok: false, error: e instanceof Error ? e.message : String(e) }),
        );
      });
    },
  );
  server.on("tlsClientError", () => {}); // a refused client is not the agent's error
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e) => reject(new TabbyError("AGENT_EXPLAIN_LISTEN", `cannot serve the explain API on ${listen.host}:${listen.port}: ${e.message}`)));
    server.listen({ host: listen.host, port: listen.port, exclusive: true }, () => resolve());
  });
  return server;
}

export function boundAddress(server: https.Server): Listen {
  const a = server.address() as AddressInfo;
  return { host: a.address, port: a.port };
}

/** Asks an agent's explain API. Errors: CLI_EXPLAIN_AGENT_UNREACHABLE (TLS, network), CLI_EXPLAIN_AGENT_ERROR (its answer). */
/**
 * `via`: a unix socket that carries the bytes to `at` (the lab's pipe into its namespaces,
 * src/lab/explain-pipe.ts); the TLS session and the check of the agent's certificate against
 * `at.host` are the same.
 */
export function queryExplainApi(
  at: Listen,
  tls: TlsFiles | { ca: Buffer; cert: Buffer; key: Buffer },
  request: ControlRequest,
  timeoutMs = 5000,
  via?: string,
): Promise<unknown> {
  const creds = typeof tls.ca === "string" ? readTls(tls as TlsFiles, "CLI_EXPLAIN_TLS") : (tls as { ca: Buffer; cert: Buffer; key: Buffer });
  const where = `${at.host.includes(":") ? `[${at.host}]` : at.host}:${at.port}`;
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: at.host,
        port: at.port,
        ...(via ? { socketPath: via, checkServerIdentity: (_: string, cert: PeerCertificate) => checkServerIdentity(at.host, cert) } : {}),
        method: "POST",
        path: EXPLAIN_API_PATH,
        ...creds,
        minVersion: "TLSv1.2",
        headers: { "content-type": "application/json" },
        timeout: timeoutMs,
        agent: false,
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (body += d));
        res.on("end", () => {
          let parsed: ControlResponse;
          try {
            parsed = JSON.parse(body) as ControlResponse;
          } catch {
            return reject(new TabbyError("CLI_EXPLAIN_AGENT_ERROR", `${where} answered HTTP ${res.statusCode} without JSON`));
          }
          if (parsed.ok) resolve(parsed.result);
          else reject(new TabbyError("CLI_EXPLAIN_AGENT_ERROR", `${where}: ${parsed.error}`));
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.on("error", (e) => reject(new TabbyError("CLI_EXPLAIN_AGENT_UNREACHABLE", `cannot ask the agent at ${where}: ${e.message}`)));
    req.end(JSON.stringify(request));
  });
}
