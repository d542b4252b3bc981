/**
 * tabby's client config file, like calicoctl's /etc/calico/calicoctl.cfg: which datastore the
 * commands use when neither --datastore nor $TABBY_DATASTORE says. $TABBY_CONFIG names it (it must
 * exist then); otherwise /etc/tabby/tabby.yaml is read if it exists. Keys (docs/cli.md):
 *
 *   apiVersion: tabby/v1          optional; kind: TabbyConfig, optional
 *   datastore: URL                sqlite:///path, etcd://host:port[,...], etcds://host:port[,...]
 *   etcdCACertFile: FILE          with etcds://: the CA, client certificate and key (all three)
 *   etcdCertFile: FILE
 *   etcdKeyFile: FILE
 *
 * An unknown key, a wrong type or a half-given certificate is an error naming the file, line and
 * column (and the nearest known key); nothing is ignored.
 */
import { existsSync, readFileSync } from "node:fs";
import { TabbyError } from "../errors.js";
import { formatPath, locateYaml, nearest, type YamlPath } from "./yaml-where.js";

export const DEFAULT_CONFIG_FILE = "/etc/tabby/tabby.yaml";

const KEYS = ["apiVersion", "kind", "datastore", "etcdCACertFile", "etcdCertFile", "etcdKeyFile"] as const;

export interface ClientConfig {
  /** The file it came from. */
  file: string;
  /** The datastore URL, with the etcd TLS files folded into its query; undefined if not set. */
  datastore?: string;
}

/** The config file to read: $TABBY_CONFIG, else the default if it exists, else none. */
export function configFilePath(env: NodeJS.ProcessEnv): { path: string; explicit: boolean } | undefined {
  const fromEnv = env["TABBY_CONFIG"];
  if (fromEnv) return { path: fromEnv, explicit: true };
  return existsSync(DEFAULT_CONFIG_FILE) ? { path: DEFAULT_CONFIG_FILE, explicit: false } : undefined;
}

/** Parses a config file's text; `file` names it in errors. */
export function parseClientConfig(text: string, file: string): ClientConfig {
  const y = locateYaml(text);
  const fail = (path: YamlPath, why: string, shown: YamlPath = path): never => {
    const p = y.at(path);
    throw new TabbyError("CLI_CONFIG", `${file}${p ? `:${p.line}:${p.col}` : ""}: ${shown.length ? `${formatPath(shown)}: ` : ""}${why}`, {
      file,
      path: formatPath(path),
    });
  };
  if (y.syntax) throw new TabbyError("CLI_CONFIG", `${file}:${y.syntax.line}:${y.syntax.col}: not YAML: ${y.syntax.message}`, { file });
  const v = y.value ?? {};
  if (typeof v !== "object" || Array.isArray(v)) fail([], "the config file is a mapping of keys (docs/cli.md)");
  const m = v as Record<string, unknown>;
  for (const k of Object.keys(m)) {
    if (!(KEYS as readonly string[]).includes(k)) {
      const near = nearest(k, KEYS);
      fail([k], `unknown key ${k}${near ? `; did you mean ${near}?` : ` (known: ${KEYS.join(", ")})`}`, []);
    }
  }
  for (const k of KEYS) if (m[k] !== undefined && (typeof m[k] !== "string" || m[k] === "")) fail([k], "must be a non-empty string");
  if (m["apiVersion"] !== undefined && m["apiVersion"] !== "tabby/v1") fail(["apiVersion"], `must be tabby/v1, not ${String(m["apiVersion"])}`);
  if (m["kind"] !== undefined && m["kind"] !== "TabbyConfig") fail(["kind"], `must be TabbyConfig, not ${String(m["kind"])}`);
  const url = m["datastore"] as string | undefined;
  const tls = { ca: m["etcdCACertFile"] as string | undefined, cert: m["etcdCertFile"] as string | undefined, key: m["etcdKeyFile"] as string | undefined };
  const given = Object.values(tls).filter(Boolean).length;
  if (!given) return url === undefined ? { file } : { file, datastore: url };
  const first = (["etcdCACertFile", "etcdCertFile", "etcdKeyFile"] as const).find((k) => m[k] !== undefined)!;
  if (given < 3) fail([first], "etcdCACertFile, etcdCertFile and etcdKeyFile go together");
  if (!url?.startsWith("etcds://")) fail([first], "the etcd TLS files need datastore: etcds://host:port");
  if (/[?&](ca|cert|key)=/.test(url!)) fail(["datastore"], "give the TLS files either in the URL or as etcd*File keys, not both");
  const q = new URLSearchParams({ ca: tls.ca!, cert: tls.cert!, key: tls.key! }).toString();
  return { file, datastore: `${url}${url!.includes("?") ? "&" : "?"}${q}` };
}

/** Reads the config file, if there is one; an explicitly named file that is missing is an error. */
export function readClientConfig(env: NodeJS.ProcessEnv): ClientConfig | undefined {
  const where = configFilePath(env);
  if (!where) return undefined;
  let text: string;
  try {
    text = readFileSync(where.path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new TabbyError(
      "CLI_CONFIG",
      `cannot read the config file ${where.path}${where.explicit ? " ($TABBY_CONFIG)" : ""}: ${code ?? (err as Error).message}`,
      { file: where.path },
      { cause: err },
    );
  }
  return parseClientConfig(text, where.path);
}
