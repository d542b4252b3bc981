/**
 * `tabby-ipam`: the CNI IPAM plugin over tabby's IPAM (Calico's calico-ipam, calico-spec §1.6).
 * ADD assigns at most one IPv4 and one IPv6 address under the handle `tabby-net.<containerID>`
 * (see identity.ts) from the node's blocks; a family is assigned when `assign_ipv4`/`assign_ipv6`
 * says so, or by default when a pool exists for it (IPAM_NO_POOL skips a family that was not asked
 * for explicitly, and fails one that was, releasing what was taken). A repeated ADD for the same
 * container answers with the addresses it already holds. DEL releases by handle (idempotent); CHECK
 * verifies the handle still holds the addresses.
 *
 * Requested addresses (podman's CNI_ARGS `IP=`, the `ips` capability's `runtimeConfig.ips`,
 * `args.cni.ips`) are assigned exactly with Calico's AssignIP instead. Pool selection, as Calico's
 * precedence minus the Kubernetes annotations tabby cannot read: `ipam.ipv4_pools`/`ipv6_pools` in
 * the config, else the pools whose `namespaceSelector` selects the pod's namespace (labels
 * `projectcalico.org/name: <namespace>`), else every enabled pool.
 */
import type { IpamApi } from "../ipam/api.js";
import { hasCode } from "../errors.js";
import { tryParseIP } from "../net/ip.js";
import type { CniArgs, CniEnv, NetConf } from "./config.js";
import { CNI_ERR, CniError } from "./errors.js";
import { ipamHandle, workloadIdentity } from "./identity.js";
import type { CniResult } from "./result.js";

/** IpamApi plus Calico's AssignIP, which the real Ipam has. */
export type CniIpam = IpamApi & {
  assignIP?(req: { ip: string; handle: string; node: string; attrs?: Record<string, string> }): Promise<string>;
};

export interface IpamPluginDeps {
  ipam: CniIpam;
  /** Pools for a namespace by namespaceSelector; undefined: no restriction. */
  namespacePools?: (namespace: string) => Promise<string[] | undefined>;
  /** The node whose blocks the addresses come from. */
  node: string;
}

/** "10.0.0.5/26" → "10.0.0.5/32"; Calico's IPAM may hand back block-masked CIDRs. Pure. */
export function hostCidr(addr: string): string {
  const ip = tryParseIP(addr.split("/")[0]!);
  if (!ip) throw new CniError(CNI_ERR.DECODING_FAILURE, `IPAM returned ${JSON.stringify(addr)}, not an address`);
  return `${ip}/${ip.family === 6 ? 128 : 32}`; // canonical text (RFC 5952), as `ip -j` prints it
}

function toResult(addrs: string[]): CniResult {
  const sorted = [...addrs].map(hostCidr).sort((a, b) => Number(a.includes(":")) - Number(b.includes(":")));
  return { ips: sorted.map((address) => ({ address })), routes: [], dns: {} };
}

export async function ipamAdd(conf: NetConf, env: CniEnv, args: CniArgs, deps: IpamPluginDeps): Promise<CniResult> {
  const handle = ipamHandle(env.containerId);
  const held = await deps.ipam.addressesOfHandle(handle);
  if (held.length) return toResult(held);

  const id = workloadIdentity(env.containerId, args);
  const attrs: Record<string, string> = { namespace: id.namespace, node: deps.node, containerID: env.containerId };
  if (id.orchestrator === "k8s") attrs.pod = id.workload;
  const requested = [...(args.ip ? args.ip.split(",") : []), ...(conf.runtimeIps ?? [])].map((a) => a.split("/")[0]!);
  const families = [
    { fam: 4 as const, want: conf.ipam?.assign_ipv4 ?? true, explicit: conf.ipam?.assign_ipv4 === true, pools: conf.ipam?.ipv4_pools },
    { fam: 6 as const, want: conf.ipam?.assign_ipv6 ?? true, explicit: conf.ipam?.assign_ipv6 === true, pools: conf.ipam?.ipv6_pools },
  ];
  const got: string[] = [];
  try {
    if (requested.length) {
      if (!deps.ipam.assignIP) throw new CniError(CNI_ERR.UNSUPPORTED_FIELD, "this IPAM cannot assign requested addresses");
      for (const ip of new Set(requested)) got.push(await deps.ipam.assignIP({ ip, handle, node: deps.node, attrs }));
      return toResult(got);
    }
    const nsPools = families.some((f) => !f.pools) && deps.namespacePools ? await deps.namespacePools(id.namespace) : undefined;
    if (nsPools && !nsPools.length) throw new CniError(CNI_ERR.NO_ADDRESS, `no IP pool's namespaceSelector selects namespace ${id.namespace}`);
    for (const f of families) {
      if (!f.want) continue;
      let addrs: string[];
      const pools = f.pools ?? nsPools;
      try {
        const r = await deps.ipam.autoAssign({
          handle,
          node: deps.node,
          num4: f.fam === 4 ? 1 : 0,
          num6: f.fam === 6 ? 1 : 0,
          attrs,
          ...(pools ? { pools } : {}),
        });
        addrs = f.fam === 4 ? r.ipv4 : r.ipv6;
      } catch (e) {
        if (hasCode(e, "IPAM_NO_POOL") && !f.explicit && !f.pools) continue;
        throw e;
      }
      if (!addrs.length) {
        if (f.explicit) throw new CniError(CNI_ERR.NO_ADDRESS, `no IPv${f.fam} address available for node ${deps.node}`);
        continue;
      }
      got.push(...addrs);
    }
    if (!got.length) throw new CniError(CNI_ERR.NO_ADDRESS, `no address assigned: no IP pool for node ${deps.node}`);
  } catch (e) {
    await deps.ipam.releaseByHandle(handle).catch(() => 0);
    if (e instanceof CniError) throw e;
    if (hasCode(e, "IPAM_EXHAUSTED") || hasCode(e, "IPAM_NO_POOL") || hasCode(e, "IPAM_ADDRESS_IN_USE") || hasCode(e, "IPAM_STRICT_AFFINITY")) {
      throw new CniError(CNI_ERR.NO_ADDRESS, `IPAM assignment failed: ${(e as Error).message}`, undefined, { cause: e });
    }
    throw new CniError(
      hasCode(e, "DS_UNAVAILABLE") ? CNI_ERR.TRY_AGAIN_LATER : CNI_ERR.DATASTORE,
      `IPAM assignment failed: ${(e as Error).message}`,
      undefined,
      { cause: e },
    );
  }
  return toResult(got);
}

export async function ipamDel(env: CniEnv, deps: IpamPluginDeps): Promise<number> {
  return deps.ipam.releaseByHandle(ipamHandle(env.containerId));
}

/** Fails unless the handle holds addresses (and, given `expected`, all of those). */
export async function ipamCheck(env: CniEnv, deps: IpamPluginDeps, expected: string[] = []): Promise<void> {
  const held = (await deps.ipam.addressesOfHandle(ipamHandle(env.containerId))).map(hostCidr);
  if (!held.length) throw new CniError(CNI_ERR.CHECK_FAILED, `handle ${ipamHandle(env.containerId)} holds no addresses`);
  const missing = expected.map(hostCidr).filter((a) => !held.includes(a));
  if (missing.length) throw new CniError(CNI_ERR.CHECK_FAILED, `handle ${ipamHandle(env.containerId)} does not hold ${missing.join(", ")}`);
}
