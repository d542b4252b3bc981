/**
 * CNI results (CNI spec 1.0 "Success"): interfaces (with `sandbox` for the container side), ips
 * pointing at an interface by index, routes, dns. Answered in the version the runtime asked for:
 * before 1.0.0 every ip also carries `version: "4" | "6"`. Pure.
 */
import { CNI_ERR, CniError } from "./errors.js";

export interface CniInterface {
  name: string;
  mac?: string;
  sandbox?: string;
}

export interface CniIp {
  address: string;
  gateway?: string;
  interface?: number;
}

export interface CniRoute {
  dst: string;
  gw?: string;
}

export interface CniDns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export interface CniResult {
  interfaces?: CniInterface[];
  ips: CniIp[];
  routes?: CniRoute[];
  dns?: CniDns;
}

/** The result as JSON for `cniVersion` (key order fixed, for golden tests). */
export function formatResult(r: CniResult, cniVersion: string): Record<string, unknown> {
  const legacy = cniVersion.startsWith("0.");
  const out: Record<string, unknown> = { cniVersion };
  if (r.interfaces) out.interfaces = r.interfaces.map((i) => ({ ...i }));
  out.ips = r.ips.map((ip) => {
    const o: Record<string, unknown> = {};
    if (legacy) o.version = ip.address.includes(":") ? "6" : "4";
    o.address = ip.address;
    if (ip.gateway) o.gateway = ip.gateway;
    if (ip.interface !== undefined) o.interface = ip.interface;
    return o;
  });
  if (r.routes) out.routes = r.routes.map((rt) => ({ ...rt }));
  out.dns = { ...(r.dns ?? {}) };
  return out;
}

/**
 * ADD after another plugin (spec: "prevResult"): the earlier plugins' interfaces, ips, routes and
 * dns first, then ours, our ips' interface indices shifted past theirs. Pure.
 */
export function mergeResults(prev: CniResult, ours: CniResult): CniResult {
  const shift = prev.interfaces?.length ?? 0;
  const dns: CniDns = { ...(prev.dns ?? {}), ...(ours.dns ?? {}) };
  const out: CniResult = {
    interfaces: [...(prev.interfaces ?? []), ...(ours.interfaces ?? [])],
    ips: [...prev.ips, ...ours.ips.map((ip) => (ip.interface === undefined ? { ...ip } : { ...ip, interface: ip.interface + shift }))],
    routes: [...(prev.routes ?? []), ...(ours.routes ?? [])],
    dns,
  };
  return out;
}

/** Reads a result (a delegated IPAM plugin's, or a prevResult) of any supported version. */
export function parseResult(v: unknown): CniResult {
  const bad = (why: string) => new CniError(CNI_ERR.DECODING_FAILURE, `malformed CNI result: ${why}`);
  if (typeof v !== "object" || v === null) throw bad("not an object");
  const o = v as Record<string, unknown>;
  // A result without ips is valid (e.g. a prevResult from a plugin that made no addresses).
  if (o.ips !== undefined && !Array.isArray(o.ips)) throw bad("ips is not a list");
  const ips: CniIp[] = ((o.ips ?? []) as unknown[]).map((x: unknown) => {
    const ip = x as Record<string, unknown>;
    if (typeof ip.address !== "string") throw bad("ip without address");
    const out: CniIp = { address: ip.address };
    if (typeof ip.gateway === "string") out.gateway = ip.gateway;
    if (typeof ip.interface === "number") out.interface = ip.interface;
    return out;
  });
  const res: CniResult = { ips };
  if (Array.isArray(o.interfaces)) res.interfaces = o.interfaces as CniInterface[];
  if (Array.isArray(o.routes)) res.routes = o.routes as CniRoute[];
  if (typeof o.dns === "object" && o.dns !== null) res.dns = o.dns as CniDns;
  return res;
}
