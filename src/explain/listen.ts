/**
 * The explain API's listen address (`node run --explain-listen`), apart from the server code so
 * that an agent parses its flags without loading node:https and node:tls (src/explain/api.ts
 * re-exports it). Pure.
 */
import { TabbyError } from "../errors.js";
import { tryParseIP } from "../net/index.js";

export interface Listen {
  host: string;
  port: number;
}

/** `ADDR:PORT` or `[V6ADDR]:PORT` with an IP address (never a wildcard unless spelled out). */
export function parseListen(text: string, flag = "--explain-listen"): Listen {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text);
  const ip = m ? tryParseIP(m[1]!) : undefined;
  const port = m ? Number(m[2]) : NaN;
  if (!m || !ip || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new TabbyError("AGENT_EXPLAIN_LISTEN", `${flag} must be IP:PORT or [IPv6]:PORT, not ${JSON.stringify(text)}`);
  }
  return { host: ip.toString(), port };
}
