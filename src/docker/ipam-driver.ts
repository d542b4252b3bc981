/**
 * tabby as Docker's remote IPAM driver (libnetwork docs/ipam.md), as Calico's libnetwork plugin
 * did it. `RequestPool` answers the whole family (`0.0.0.0/0`, `::/0`) unless `--subnet` names a
 * tabby IPPool's CIDR; `--ipam-opt ipv4_pools=a,b` / `ipv6_pools=` restrict the pools (as the CNI
 * config's). The pool id carries that choice (`tabby/4/a,b`). The pool's data names the gateway
 * (`0.0.0.0/0`, `::/0`), so dockerd asks no gateway address. `RequestAddress` assigns one address
 * from tabby's IPAM for this node under the handle `tabby-docker.<address>` (dockerd asks before
 * the endpoint exists, and releases by address); `ReleaseAddress` releases that handle.
 */
import { kindPrefix } from "../model/keys.js";
import type { Store } from "../datastore/store.js";
import { hasCode } from "../errors.js";
import { hostCidr, type CniIpam } from "../cni/ipam-plugin.js";
import { randomUid } from "../cni/uid.js";
import { bad, DockerPluginError, isObject, str, type Body } from "./protocol.js";

export const DOCKER_NAMESPACE = "docker";
export const DOCKER_HANDLE_PREFIX = "tabby-docker.";

/** `tabby/4/a,b` ↔ family and pools. Pure. */
export function poolId(fam: 4 | 6, pools: string[] | undefined): string {
  return `tabby/${fam}/${pools?.length ? pools.join(",") : "*"}`;
}
export function parsePoolId(id: string): { fam: 4 | 6; pools?: string[] } {
  const m = /^tabby\/([46])\/(.+)$/.exec(id);
  if (!m) throw bad(`pool id ${JSON.stringify(id)} was not made by tabby`);
  return { fam: m[1] === "6" ? 6 : 4, ...(m[2] !== "*" ? { pools: m[2]!.split(",") } : {}) };
}

export interface DockerIpamDeps {
  store: Store;
  ipam: CniIpam;
  node: string;
  /** The host-wide IPAM lock shared with the CNI plugin (cni/lock.ts); default none. */
  lock?: <T>(fn: () => Promise<T>) => Promise<T>;
}

export class DockerIpamDriver {
  constructor(private readonly d: DockerIpamDeps) {}

  private locked<T>(fn: () => Promise<T>): Promise<T> {
    return this.d.lock ? this.d.lock(fn) : fn();
  }

  async requestPool(b: Body): Promise<Body> {
    const v6 = b.V6 === true;
    const fam = v6 ? 6 : 4;
    if (b.SubPool) throw bad("--ip-range is not supported by tabby's IPAM (addresses come from tabby's IP pools)");
    const opts = isObject(b.Options) ? b.Options : {};
    const known = ["ipv4_pools", "ipv6_pools"];
    const unknown = Object.keys(opts).filter((k) => !known.includes(k));
    if (unknown.length) throw bad(`IPAM options tabby does not implement: ${unknown.join(", ")}`);
    const listed = opts[v6 ? "ipv6_pools" : "ipv4_pools"];
    let pools = typeof listed === "string" && listed ? listed.split(",") : undefined;
    const whole = v6 ? "::/0" : "0.0.0.0/0";
    const subnet = typeof b.Pool === "string" && b.Pool ? b.Pool : undefined;
    if (subnet) {
      const pool = await this.poolByCidr(subnet);
      if (!pool) throw bad(`--subnet ${subnet} is not the CIDR of a tabby IPPool`);
      pools = [pool];
    }
    return { PoolID: poolId(fam, pools), Pool: subnet ?? whole, Data: { "com.docker.network.gateway": whole } };
  }

  private async poolByCidr(cidr: string): Promise<string | undefined> {
    for (const kv of (await this.d.store.list(kindPrefix("IPPool"))).items) {
      const p = JSON.parse(kv.value) as { metadata?: { name?: string }; spec?: { cidr?: string } };
      if (p.spec?.cidr === cidr) return p.metadata?.name;
    }
    return undefined;
  }

  async requestAddress(b: Body): Promise<Body> {
    return this.locked(() => this.assign(b));
  }

  private async assign(b: Body): Promise<Body> {
    const { fam, pools } = parsePoolId(str(b, "PoolID"));
    const opts = isObject(b.Options) ? b.Options : {};
    if (opts.RequestAddressType === "com.docker.network.gateway") return { Address: fam === 6 ? "::/0" : "0.0.0.0/0" };
    const attrs = { node: this.d.node, namespace: DOCKER_NAMESPACE };
    if (typeof b.Address === "string" && b.Address) {
      if (!this.d.ipam.assignIP) throw bad("this IPAM cannot assign a requested address");
      const ip = b.Address.split("/")[0]!;
      const got = await this.d.ipam.assignIP({ ip, handle: DOCKER_HANDLE_PREFIX + hostCidr(ip).split("/")[0], node: this.d.node, attrs });
      return { Address: hostCidr(got) };
    }
    // ReleaseAddress names only the address, so the handle must too; the address is known only
    // after assignment: assign under a one-off handle, then take the same address again under
    // the handle that names it (another assignment may win the address in between: try again).
    for (let attempt = 0; ; attempt++) {
      const tmp = `${DOCKER_HANDLE_PREFIX}pending.${await randomUid()}`;
      const r = await this.d.ipam.autoAssign({
        handle: tmp,
        node: this.d.node,
        num4: fam === 4 ? 1 : 0,
        num6: fam === 6 ? 1 : 0,
        attrs,
        ...(pools ? { pools } : {}),
      });
      const addr = (fam === 4 ? r.ipv4 : r.ipv6)[0];
      if (!addr) throw new DockerPluginError("CNI_DOCKER_NO_ADDRESS", `no IPv${fam} address available for node ${this.d.node}`);
      const ip = hostCidr(addr).split("/")[0]!;
      if (!this.d.ipam.assignIP) throw bad("this IPAM cannot assign a named address");
      await this.d.ipam.releaseByHandle(tmp);
      try {
        await this.d.ipam.assignIP({ ip, handle: DOCKER_HANDLE_PREFIX + ip, node: this.d.node, attrs });
        return { Address: hostCidr(addr) };
      } catch (e) {
        if (!hasCode(e, "IPAM_ADDRESS_IN_USE") || attempt >= 5) throw e;
      }
    }
  }

  async releaseAddress(b: Body): Promise<Body> {
    parsePoolId(str(b, "PoolID"));
    const handle = DOCKER_HANDLE_PREFIX + hostCidr(str(b, "Address")).split("/")[0];
    await this.locked(() => this.d.ipam.releaseByHandle(handle));
    return {};
  }
}
