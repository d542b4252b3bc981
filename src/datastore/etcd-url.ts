/**
 * The etcd datastore's options and its URL (etcd.ts): parsing `etcd://` and `etcds://` URLs into
 * endpoints, credentials, TLS files and timeouts, with the password redacted from any error.
 */
import { TabbyError } from "../errors.js";

export interface EtcdTlsOptions {
  /** PEM file paths. */
  ca?: string;
  cert?: string;
  key?: string;
}

export interface EtcdOptions {
  /** `http://host:port` or `https://host:port` (or bare `host:port`: https when `tls` is set). */
  endpoints: string[];
  tls?: EtcdTlsOptions;
  username?: string;
  password?: string;
  /** How long `open` waits for a first answer, and a watch for its creation (default 5000). */
  dialTimeoutMs?: number;
  /** Deadline of every request, retries included (default 5000). */
  requestTimeoutMs?: number;
}

const DEFAULT_PORT = 2379;

/**
 * Parses `etcd://host:port[,host:port…]` and `etcds://host:port[,…]?ca=/p&cert=/p&key=/p` (TLS),
 * optionally with `user:password@` before the hosts. A missing port is 2379.
 */
export function parseEtcdUrl(url: string): EtcdOptions {
  const m = /^(etcds?):\/\/(?:([^@/?]*)@)?([^/?]+)\/?(?:\?(.*))?$/.exec(url);
  if (!m) throw badUrl(url, "expected etcd://host:port[,host:port] or etcds://…");
  const scheme = m[1]!;
  const userinfo = m[2];
  const hosts = m[3]!;
  const query = m[4];
  const secure = scheme === "etcds";
  const endpoints = hosts.split(",").map((h) => {
    const hp = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(h.trim());
    if (!hp) throw badUrl(url, `bad host "${h}"`);
    const port = hp[2] === undefined ? DEFAULT_PORT : Number(hp[2]);
    if (port < 1 || port > 65535) throw badUrl(url, `bad port in "${h}"`);
    return `${secure ? "https" : "http"}://${hp[1]}:${port}`;
  });
  const opts: EtcdOptions = { endpoints };
  if (userinfo !== undefined && userinfo !== "") {
    const i = userinfo.indexOf(":");
    opts.username = decodeURIComponent(i < 0 ? userinfo : userinfo.slice(0, i));
    if (i >= 0) opts.password = decodeURIComponent(userinfo.slice(i + 1));
  }
  const params = new URLSearchParams(query ?? "");
  const tls: EtcdTlsOptions = {};
  for (const [k, v] of params) {
    if (k === "ca" || k === "cert" || k === "key") tls[k] = v;
    else if (k === "dialTimeoutMs" || k === "requestTimeoutMs") {
      const n = Number(v);
      if (!Number.isInteger(n) || n <= 0) throw badUrl(url, `bad ${k}`);
      opts[k] = n;
    } else throw badUrl(url, `unknown parameter "${k}"`);
  }
  if (Object.keys(tls).length > 0 && !secure) throw badUrl(url, "TLS files need the etcds:// scheme");
  if (secure) opts.tls = tls;
  if ((tls.cert === undefined) !== (tls.key === undefined)) throw badUrl(url, "cert and key go together");
  return opts;
}

function badUrl(url: string, why: string): TabbyError {
  return new TabbyError("DS_BAD_URL", `bad etcd datastore URL ${redact(url)}: ${why}`, { url: redact(url) });
}

function redact(url: string): string {
  return url.replace(/\/\/[^@/?]*@/, "//***@");
}
