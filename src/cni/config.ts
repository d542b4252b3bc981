/**
 * Parsing of what a runtime hands a CNI plugin (CNI spec 1.0, "Parameters" and "Network
 * configuration"): the environment (CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS,
 * CNI_PATH), the network configuration on stdin, and CNI_ARGS (`K=V;K=V`, with CRI's K8S_* keys and
 * podman's IP/MAC). Pure.
 */
import { isIP } from "../net/ip.js";
import { CNI_ERR, CniError } from "./errors.js";

export const SUPPORTED_VERSIONS = ["0.3.0", "0.3.1", "0.4.0", "1.0.0"] as const;
export const DEFAULT_VERSION = "1.0.0";

export type CniCommand = "ADD" | "DEL" | "CHECK" | "VERSION";

export interface IpamConfig {
  type: string;
  assign_ipv4?: boolean;
  assign_ipv6?: boolean;
  [k: string]: unknown;
}

export interface NetConf {
  cniVersion: string;
  name: string;
  type: string;
  ipam?: IpamConfig;
  mtu?: number;
  /** tabby: datastore URL (sqlite:///path, memory://); default TABBY_DATASTORE, then the built-in default. */
  datastore?: string;
  /** tabby: this host's node name; default TABBY_NODENAME, then the hostname. */
  nodename?: string;
  prevResult?: Record<string, unknown>;
  /** The whole object as received (handed on to delegated IPAM plugins). */
  raw: Record<string, unknown>;
}

export interface CniEnv {
  command: CniCommand;
  containerId: string;
  /** Empty when the runtime gave none (allowed for DEL). */
  netns: string;
  ifname: string;
  args: string;
  path: string[];
}

export interface CniArgs {
  k8sNamespace?: string;
  k8sPodName?: string;
  k8sInfraContainerId?: string;
  ignoreUnknown: boolean;
  ip?: string;
  mac?: string;
  /** Every pair, as given. */
  all: Record<string, string>;
}

/** Reads the CNI_* variables; which ones are required depends on the command. */
export function parseEnv(env: Record<string, string | undefined>): CniEnv {
  const command = env.CNI_COMMAND ?? "";
  if (!["ADD", "DEL", "CHECK", "VERSION"].includes(command)) {
    throw new CniError(CNI_ERR.INVALID_ENV, `CNI_COMMAND ${JSON.stringify(command)} is not one of ADD, DEL, CHECK, VERSION`);
  }
  const out: CniEnv = {
    command: command as CniCommand,
    containerId: env.CNI_CONTAINERID ?? "",
    netns: env.CNI_NETNS ?? "",
    ifname: env.CNI_IFNAME ?? "",
    args: env.CNI_ARGS ?? "",
    path: (env.CNI_PATH ?? "").split(":").filter(Boolean),
  };
  if (command === "VERSION") return out;
  const missing: string[] = [];
  if (!out.containerId) missing.push("CNI_CONTAINERID");
  if (!out.ifname) missing.push("CNI_IFNAME");
  if (command !== "DEL" && !out.netns) missing.push("CNI_NETNS");
  if (missing.length) throw new CniError(CNI_ERR.INVALID_ENV, `required environment variables missing: ${missing.join(", ")}`);
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(out.containerId)) {
    throw new CniError(CNI_ERR.INVALID_ENV, `CNI_CONTAINERID ${JSON.stringify(out.containerId)} has characters outside [A-Za-z0-9_.-]`);
  }
  if (out.ifname.length > 15 || /[\s/:]/.test(out.ifname) || out.ifname === "." || out.ifname === "..") {
    throw new CniError(CNI_ERR.INVALID_ENV, `CNI_IFNAME ${JSON.stringify(out.ifname)} is not a valid interface name`);
  }
  return out;
}

const KNOWN_ARGS = new Set(["K8S_POD_NAMESPACE", "K8S_POD_NAME", "K8S_POD_INFRA_CONTAINER_ID", "K8S_POD_UID", "IgnoreUnknown", "IP", "MAC"]);

export function parseCniArgs(text: string): CniArgs {
  const all: Record<string, string> = {};
  for (const part of text.split(";")) {
    if (!part) continue;
    const eq = part.indexOf("=");
    if (eq <= 0) throw new CniError(CNI_ERR.INVALID_ENV, `CNI_ARGS: ${JSON.stringify(part)} is not KEY=VALUE`);
    all[part.slice(0, eq)] = part.slice(eq + 1);
  }
  const ignore = (all.IgnoreUnknown ?? "").toLowerCase();
  const out: CniArgs = { ignoreUnknown: ignore === "1" || ignore === "true", all };
  if (!out.ignoreUnknown) {
    const unknown = Object.keys(all).filter((k) => !KNOWN_ARGS.has(k));
    if (unknown.length) throw new CniError(CNI_ERR.INVALID_ENV, `CNI_ARGS: unknown keys ${unknown.join(", ")} (set IgnoreUnknown=1)`);
  }
  if (all.K8S_POD_NAMESPACE) out.k8sNamespace = all.K8S_POD_NAMESPACE;
  if (all.K8S_POD_NAME) out.k8sPodName = all.K8S_POD_NAME;
  if (all.K8S_POD_INFRA_CONTAINER_ID) out.k8sInfraContainerId = all.K8S_POD_INFRA_CONTAINER_ID;
  if (all.IP) {
    for (const ip of all.IP.split(",")) {
      if (!isIP(ip.split("/")[0] ?? "")) throw new CniError(CNI_ERR.INVALID_ENV, `CNI_ARGS: IP ${JSON.stringify(ip)} is not an IP address`);
    }
    out.ip = all.IP;
  }
  if (all.MAC) {
    if (!/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(all.MAC)) throw new CniError(CNI_ERR.INVALID_ENV, `CNI_ARGS: MAC ${JSON.stringify(all.MAC)} is not a MAC address`);
    out.mac = all.MAC.toLowerCase();
  }
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Parses and validates the network configuration from stdin. */
export function parseNetConf(text: string, opts: { requireIpam?: boolean } = {}): NetConf {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new CniError(CNI_ERR.DECODING_FAILURE, `network configuration is not JSON: ${(e as Error).message}`);
  }
  if (!isObject(raw)) throw new CniError(CNI_ERR.DECODING_FAILURE, "network configuration is not a JSON object");
  const bad = (field: string, why: string) => new CniError(CNI_ERR.INVALID_CONFIG, `network configuration: ${field} ${why}`);
  const { cniVersion, name, type, ipam, mtu, datastore, nodename, prevResult } = raw;
  if (typeof cniVersion !== "string" || !cniVersion) throw bad("cniVersion", "must be a string");
  if (!(SUPPORTED_VERSIONS as readonly string[]).includes(cniVersion)) {
    throw new CniError(CNI_ERR.INCOMPATIBLE_VERSION, `CNI version ${cniVersion} is not supported (supported: ${SUPPORTED_VERSIONS.join(", ")})`);
  }
  if (typeof name !== "string" || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) throw bad("name", "must be a non-empty name of [A-Za-z0-9_.-]");
  if (typeof type !== "string" || !type) throw bad("type", "must be a string");
  const conf: NetConf = { cniVersion, name, type, raw };
  if (ipam !== undefined) {
    if (!isObject(ipam) || typeof ipam.type !== "string" || !ipam.type) throw bad("ipam", "must be an object with a type");
    for (const f of ["assign_ipv4", "assign_ipv6"] as const) {
      const v = ipam[f];
      // Calico writes these as strings ("true"); accept both.
      if (v !== undefined && typeof v !== "boolean" && v !== "true" && v !== "false") throw bad(`ipam.${f}`, "must be a boolean");
    }
    const norm: IpamConfig = { ...ipam, type: ipam.type };
    if (ipam.assign_ipv4 !== undefined) norm.assign_ipv4 = ipam.assign_ipv4 === true || ipam.assign_ipv4 === "true";
    else delete norm.assign_ipv4;
    if (ipam.assign_ipv6 !== undefined) norm.assign_ipv6 = ipam.assign_ipv6 === true || ipam.assign_ipv6 === "true";
    else delete norm.assign_ipv6;
    conf.ipam = norm;
  } else if (opts.requireIpam) {
    throw bad("ipam", "is required");
  }
  if (mtu !== undefined) {
    if (typeof mtu !== "number" || !Number.isInteger(mtu) || mtu < 0 || mtu > 65535 || (mtu > 0 && mtu < 68)) throw bad("mtu", "must be 0 or an integer 68-65535");
    if (mtu > 0) conf.mtu = mtu;
  }
  if (datastore !== undefined) {
    if (typeof datastore !== "string" || !/^[a-z][a-z0-9+.-]*:\/\//.test(datastore)) throw bad("datastore", "must be a URL (sqlite:///path, memory://)");
    conf.datastore = datastore;
  }
  if (nodename !== undefined) {
    if (typeof nodename !== "string" || !nodename) throw bad("nodename", "must be a non-empty string");
    conf.nodename = nodename;
  }
  if (prevResult !== undefined) {
    if (!isObject(prevResult)) throw bad("prevResult", "must be an object");
    conf.prevResult = prevResult;
  }
  return conf;
}

/** The version to answer in: the config's when readable and supported, else 1.0.0. Pure. */
export function answerVersion(stdin: string): string {
  try {
    const v = (JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion;
    if (typeof v === "string" && (SUPPORTED_VERSIONS as readonly string[]).includes(v)) return v;
  } catch {
    /* fall through */
  }
  return DEFAULT_VERSION;
}

/** The VERSION answer. Pure. */
export function versionResult(stdin: string): { cniVersion: string; supportedVersions: string[] } {
  return { cniVersion: answerVersion(stdin), supportedVersions: [...SUPPORTED_VERSIONS] };
}
