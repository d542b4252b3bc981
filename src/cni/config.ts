/**
 * Parsing of what a runtime hands a CNI plugin (CNI spec 1.0, "Parameters" and "Network
 * configuration"): the environment (CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS,
 * CNI_PATH), the network configuration on stdin, and CNI_ARGS (`K=V;K=V`, with CRI's K8S_* keys and
 * podman's IP/MAC). Pure.
 */
import { isIP } from "../net/ip.js";
import { CNI_ERR, CniError } from "./errors.js";
import { labelList, parseLabelRules, POD_ANNOTATIONS_CAP, type LabelRules, type RuntimeLabels } from "./labels.js";

export const SUPPORTED_VERSIONS = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] as const;
export const DEFAULT_VERSION = "1.0.0";
/** ADD waits at most this long for the agent to program a new endpoint's policy (docs/cni.md). */
export const DEFAULT_POLICY_SETUP_TIMEOUT_SECONDS = 10;
/** Where `tabby node run` publishes the endpoints it has programmed (one file per host interface). */
export const DEFAULT_ENDPOINT_STATUS_DIR = "/run/tabby/endpoint-status";

export type CniCommand = "ADD" | "DEL" | "CHECK" | "VERSION" | "STATUS" | "GC";
const COMMANDS: readonly string[] = ["ADD", "DEL", "CHECK", "VERSION", "STATUS", "GC"];

/** True for versions before 1.0.0 (ips carry `version`; no CHECK before 0.4.0). */
export const isLegacyVersion = (v: string) => v.startsWith("0.");
/** True for versions that know STATUS and GC (1.1.0 and later). */
export const hasStatusAndGc = (v: string) => !isLegacyVersion(v) && v !== "1.0.0";

/** A port mapping as runtimes send it (podman: hostPort…, containerd/go-cni: HostPort…). */
export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol: string;
  hostIP?: string;
}

/** One attachment of `cni.dev/valid-attachments` (GC, spec 1.1.0). */
export interface Attachment {
  containerID: string;
  ifname: string;
}

export interface IpamConfig {
  type: string;
  assign_ipv4?: boolean;
  assign_ipv6?: boolean;
  /** Calico: restrict IPv4 (IPv6) assignment to these pools, by name or CIDR. */
  ipv4_pools?: string[];
  ipv6_pools?: string[];
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
  /** From `runtimeConfig` (capabilities `ips`, `mac`, `portMappings`) and `args.cni.ips`. */
  runtimeIps?: string[];
  runtimeMac?: string;
  portMappings?: PortMapping[];
  /** Labels and pod annotations the runtime passed (labels.ts). */
  runtimeLabels: RuntimeLabels;
  /** tabby: the `labels` block (prefix map and filter). */
  labelRules: LabelRules;
  /** tabby (Calico's name): seconds ADD waits for the agent to program the endpoint's policy; 0: no wait. */
  policySetupTimeoutSeconds: number;
  /** tabby: where the agent publishes which endpoints are programmed. */
  endpointStatusDir: string;
  /** GC: `cni.dev/valid-attachments`. */
  validAttachments?: Attachment[];
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
  if (!COMMANDS.includes(command)) {
    throw new CniError(CNI_ERR.INVALID_ENV, `CNI_COMMAND ${JSON.stringify(command)} is not one of ${COMMANDS.join(", ")}`);
  }
  const out: CniEnv = {
    command: command as CniCommand,
    containerId: env.CNI_CONTAINERID ?? "",
    netns: env.CNI_NETNS ?? "",
    ifname: env.CNI_IFNAME ?? "",
    args: env.CNI_ARGS ?? "",
    path: (env.CNI_PATH ?? "").split(":").filter(Boolean),
  };
  if (command === "VERSION" || command === "STATUS" || command === "GC") return out;
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

const MAC_RE = /^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/;

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
    if (!MAC_RE.test(all.MAC)) throw new CniError(CNI_ERR.INVALID_ENV, `CNI_ARGS: MAC ${JSON.stringify(all.MAC)} is not a MAC address`);
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
  const { cniVersion, name, type, ipam, mtu, datastore, nodename, prevResult, runtimeConfig, args, labels } = raw;
  if (typeof cniVersion !== "string" || !cniVersion) throw bad("cniVersion", "must be a string");
  if (!(SUPPORTED_VERSIONS as readonly string[]).includes(cniVersion)) {
    throw new CniError(CNI_ERR.INCOMPATIBLE_VERSION, `CNI version ${cniVersion} is not supported (supported: ${SUPPORTED_VERSIONS.join(", ")})`);
  }
  if (typeof name !== "string" || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) throw bad("name", "must be a non-empty name of [A-Za-z0-9_.-]");
  if (typeof type !== "string" || !type) throw bad("type", "must be a string");
  const conf: NetConf = {
    cniVersion,
    name,
    type,
    raw,
    runtimeLabels: { annotations: {}, labels: {} },
    labelRules: labels === undefined ? { map: {} } : parseLabelRules(labels, bad),
    policySetupTimeoutSeconds: DEFAULT_POLICY_SETUP_TIMEOUT_SECONDS,
    endpointStatusDir: DEFAULT_ENDPOINT_STATUS_DIR,
  };
  const timeout = raw.policy_setup_timeout_seconds;
  if (timeout !== undefined) {
    if (typeof timeout !== "number" || !(timeout >= 0) || timeout > 3600) throw bad("policy_setup_timeout_seconds", "must be a number of seconds, 0-3600");
    conf.policySetupTimeoutSeconds = timeout;
  }
  const statusDir = raw.endpoint_status_dir;
  if (statusDir !== undefined) {
    if (typeof statusDir !== "string" || !statusDir.startsWith("/")) throw bad("endpoint_status_dir", "must be an absolute path");
    conf.endpointStatusDir = statusDir;
  }
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
    for (const f of ["ipv4_pools", "ipv6_pools"] as const) {
      const v = ipam[f];
      if (v === undefined) continue;
      if (!Array.isArray(v) || !v.every((x) => typeof x === "string" && x)) throw bad(`ipam.${f}`, "must be a list of pool names or CIDRs");
      norm[f] = v as string[];
    }
    conf.ipam = norm;
  } else if (opts.requireIpam) {
    throw bad("ipam", "is required");
  }
  if (mtu !== undefined) {
    if (typeof mtu !== "number" || !Number.isInteger(mtu) || mtu < 0 || mtu > 65535 || (mtu > 0 && mtu < 68))
      throw bad("mtu", "must be 0 or an integer 68-65535");
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
  const ips: string[] = [];
  if (runtimeConfig !== undefined) {
    if (!isObject(runtimeConfig)) throw bad("runtimeConfig", "must be an object");
    const { ips: rIps, mac, portMappings, labels: rLabels } = runtimeConfig;
    const annotations = runtimeConfig[POD_ANNOTATIONS_CAP];
    if (annotations !== undefined && annotations !== null) {
      conf.runtimeLabels.annotations = labelList(annotations, `runtimeConfig["${POD_ANNOTATIONS_CAP}"]`, bad);
    }
    if (rLabels !== undefined && rLabels !== null) Object.assign(conf.runtimeLabels.labels, labelList(rLabels, "runtimeConfig.labels", bad));
    if (rIps !== undefined) ips.push(...ipList(rIps, "runtimeConfig.ips", bad));
    if (mac !== undefined && mac !== "") {
      if (typeof mac !== "string" || !MAC_RE.test(mac)) throw bad("runtimeConfig.mac", "must be a MAC address");
      conf.runtimeMac = mac.toLowerCase();
    }
    if (portMappings !== undefined && portMappings !== null) conf.portMappings = parsePortMappings(portMappings, bad);
  }
  if (isObject(args) && isObject(args.cni) && args.cni.ips !== undefined) ips.push(...ipList(args.cni.ips, "args.cni.ips", bad));
  if (isObject(args) && isObject(args.cni) && args.cni.labels !== undefined)
    Object.assign(conf.runtimeLabels.labels, labelList(args.cni.labels, "args.cni.labels", bad));
  if (ips.length) conf.runtimeIps = ips;
  const valid = raw["cni.dev/valid-attachments"];
  if (valid !== undefined) {
    if (!Array.isArray(valid)) throw bad("cni.dev/valid-attachments", "must be a list");
    conf.validAttachments = valid.map((a: unknown) => {
      if (!isObject(a) || typeof a.containerID !== "string" || typeof a.ifname !== "string")
        throw bad("cni.dev/valid-attachments", "entries need containerID and ifname");
      return { containerID: a.containerID, ifname: a.ifname };
    });
  }
  return conf;
}

function ipList(v: unknown, field: string, bad: (f: string, why: string) => CniError): string[] {
  if (!Array.isArray(v)) throw bad(field, "must be a list of addresses");
  return v.map((x: unknown) => {
    if (typeof x !== "string" || !isIP(x.split("/")[0] ?? "")) throw bad(field, `has ${JSON.stringify(x)}, not an address`);
    return x;
  });
}

/** Port mappings in either spelling (podman's camelCase, go-cni's Go field names). Pure. */
export function parsePortMappings(v: unknown, bad: (f: string, why: string) => CniError): PortMapping[] {
  if (!Array.isArray(v)) throw bad("runtimeConfig.portMappings", "must be a list");
  return v.map((x: unknown) => {
    if (!isObject(x)) throw bad("runtimeConfig.portMappings", "entries must be objects");
    const hostPort = x.hostPort ?? x.HostPort;
    const containerPort = x.containerPort ?? x.ContainerPort;
    const protocol = x.protocol ?? x.Protocol ?? "tcp";
    const hostIP = x.hostIP ?? x.HostIP ?? x.hostIp;
    const port = (p: unknown) => typeof p === "number" && Number.isInteger(p) && p > 0 && p < 65536;
    if (!port(hostPort) || !port(containerPort)) throw bad("runtimeConfig.portMappings", "needs hostPort and containerPort in 1-65535");
    if (typeof protocol !== "string") throw bad("runtimeConfig.portMappings", "protocol must be a string");
    const out: PortMapping = { hostPort: hostPort as number, containerPort: containerPort as number, protocol: protocol.toLowerCase() };
    if (typeof hostIP === "string" && hostIP) out.hostIP = hostIP;
    return out;
  });
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
