/**
 * CNI 1.1.0 STATUS and GC for `tabby` and `tabby-ipam`.
 *
 * STATUS: the plugin can serve ADD when the datastore answers and holds at least one enabled IP
 * pool (for tabby-ipam); otherwise error 50 ("plugin not available").
 *
 * GC: `cni.dev/valid-attachments` lists every attachment the runtime still knows on this host.
 * tabby removes this node's WorkloadEndpoints (and their host veths) whose (containerID, endpoint)
 * is not listed; tabby-ipam releases every handle `tabby-net.<containerID>` holding addresses in
 * blocks whose allocation says `node: <this node>` when no listed attachment has that container
 * id. Handles carry no network name (see identity.ts), so two tabby networks on one host share one
 * valid list: the runtime must send the union, as libcni does per network list.
 */
import type { Store } from "../datastore/store.js";
import { resourceKey } from "../model/keys.js";
import { hasCode } from "../errors.js";
import type { IpamApi } from "../ipam/api.js";
import { BLOCK_ROOT, decodeBlock } from "../ipam/keys.js";
import { Links } from "../dataplane/links.js";
import type { CommandRunner } from "../dataplane/exec.js";
import type { Attachment } from "./config.js";
import { CNI_ERR, CniError } from "./errors.js";
import { HANDLE_PREFIX, type WorkloadEndpoint } from "./identity.js";

const IPPOOL_PREFIX = resourceKey("IPPool", "x").slice(0, -1);
const WEP_PREFIX = resourceKey("WorkloadEndpoint", "x", "y").slice(0, -"y/x".length);

async function listAll(store: Store, prefix: string) {
  const out = [];
  let startAfter: string | undefined;
  for (;;) {
    const r = await store.list(prefix, { limit: 500, ...(startAfter ? { startAfter } : {}) });
    out.push(...r.items);
    const last = r.items.at(-1);
    if (!r.more || !last) return out;
    startAfter = last.key;
  }
}

/** STATUS: throws CniError 50 unless the store answers (and, when `needPool`, has an enabled pool). */
export async function status(openStore: () => Promise<Store>, needPool: boolean): Promise<void> {
  let pools;
  try {
    pools = await listAll(await openStore(), IPPOOL_PREFIX);
  } catch (e) {
    throw new CniError(CNI_ERR.NOT_AVAILABLE, `datastore unusable: ${(e as Error).message}`, undefined, { cause: e });
  }
  if (!needPool) return;
  const enabled = pools.filter((kv) => {
    try {
      return (JSON.parse(kv.value) as { spec?: { disabled?: boolean } }).spec?.disabled !== true;
    } catch {
      return false;
    }
  });
  if (!enabled.length) throw new CniError(CNI_ERR.NOT_AVAILABLE, "no enabled IP pool: ADD cannot assign addresses");
}

/** tabby-ipam GC: returns the handles released. */
export async function ipamGc(store: Store, ipam: IpamApi, node: string, valid: Attachment[]): Promise<string[]> {
  const keep = new Set(valid.map((a) => HANDLE_PREFIX + a.containerID));
  const stale = new Set<string>();
  for (const kv of await listAll(store, BLOCK_ROOT)) {
    let block;
    try {
      block = decodeBlock(kv.value);
    } catch {
      continue;
    }
    for (const a of block.attributes) {
      const h = a.handle_id;
      if (h?.startsWith(HANDLE_PREFIX) && a.secondary?.node === node && !keep.has(h)) stale.add(h);
    }
  }
  for (const h of stale) await ipam.releaseByHandle(h);
  return [...stale];
}

/**
 * tabby GC: this node's CNI endpoints not in the valid list lose their veth and their
 * WorkloadEndpoint (Docker's, orchestrator `libnetwork`, are left alone).
 */
export async function netGc(store: Store, runner: CommandRunner, hostNetns: string | undefined, node: string, valid: Attachment[]): Promise<string[]> {
  const keep = new Set(valid.map((a) => `${a.containerID}/${a.ifname}`));
  const links = new Links(runner, hostNetns);
  const removed: string[] = [];
  for (const kv of await listAll(store, WEP_PREFIX)) {
    let wep: WorkloadEndpoint;
    try {
      wep = JSON.parse(kv.value) as WorkloadEndpoint;
    } catch {
      continue;
    }
    const s = wep.spec;
    if (!s || s.node !== node || keep.has(`${s.containerID}/${s.endpoint}`)) continue;
    // Docker's endpoints (tabby docker-plugin) are not the CNI runtime's to collect.
    if (s.orchestrator === "libnetwork") continue;
    if (s.interfaceName) await links.deleteLink(s.interfaceName);
    await store.delete(kv.key, { revision: kv.revision }).catch((e: unknown) => {
      if (!hasCode(e, "DS_NOT_FOUND") && !hasCode(e, "DS_CONFLICT")) throw e;
    });
    removed.push(wep.metadata.name);
  }
  return removed;
}

/**
 * Calico's per-namespace pool selection without Kubernetes: the IPPools whose
 * `spec.namespaceSelector` selects a namespace labelled `projectcalico.org/name: <namespace>` (plus
 * the labels of Profile `kns.<namespace>`'s `labelsToApply`, if that profile exists). Pools without
 * a namespaceSelector serve every namespace. Undefined when no pool has a namespaceSelector (no
 * restriction: IPAM's own choice stands).
 */
export async function namespacePools(store: Store, namespace: string): Promise<string[] | undefined> {
  const pools = (await listAll(store, IPPOOL_PREFIX)).flatMap((kv) => {
    try {
      const r = JSON.parse(kv.value) as { metadata?: { name?: string }; spec?: { namespaceSelector?: string; disabled?: boolean } };
      return r.metadata?.name && !r.spec?.disabled ? [{ name: r.metadata.name, sel: r.spec?.namespaceSelector?.trim() ?? "" }] : [];
    } catch {
      return [];
    }
  });
  if (!pools.some((p) => p.sel)) return undefined;
  const labels: Record<string, string> = { "projectcalico.org/name": namespace };
  const prof = await store.get(resourceKey("Profile", `kns.${namespace}`));
  if (prof) {
    try {
      Object.assign(labels, (JSON.parse(prof.value) as { spec?: { labelsToApply?: Record<string, string> } }).spec?.labelsToApply ?? {});
    } catch {
      /* unreadable profile: no extra labels */
    }
  }
  const { parseSelector } = await import("../selector/index.js");
  return pools.filter((p) => !p.sel || parseSelector(p.sel).matches(labels)).map((p) => p.name);
}
