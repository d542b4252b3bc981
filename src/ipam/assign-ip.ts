/**
 * Explicit assignment of one named address (libcalico-go `ipam.go` AssignIP): the address must
 * lie in a pool; its block is claimed for the node when nobody has it yet; with strictAffinity
 * the block must be the node's. IPReservations are ignored here, as Calico's AssignIP does. As
 * in Calico, the handle's count is raised before the block write and lowered if that write fails.
 */
import { TabbyError } from "../errors.js";
import { hostPrefix, parsePrefix } from "../net/prefix.js";
import { assignAddress, blockCidrOf, type AssignAttrs } from "./block.js";
import { blockKey, decodeBlock, encodeBlock } from "./keys.js";
import { readSettings } from "./settings.js";
import { validateRequest } from "./auto-assign.js";
import { tryClaim } from "./claim.js";
import { changeHandle, isConflict, isNotFound, retry, RETRY, type Attempt, type IpamState } from "./store-ops.js";

/**
 * Assigns one specific address (Calico's AssignIP): the address must lie in a pool; its block is
 * claimed for `node` when nobody has it yet. With strict affinity the block must be the node's.
 * Errors: IPAM_NO_POOL, IPAM_ADDRESS_IN_USE, IPAM_STRICT_AFFINITY. Returns the host prefix.
 */
export async function assignIP(st: IpamState, req: { ip: string; handle: string; node: string; attrs?: Record<string, string> }): Promise<string> {
  validateRequest({ handle: req.handle, node: req.node, num4: 0, num6: 0 });
  const ip = parsePrefix(req.ip).addr;
  const { pools, config } = await readSettings(st.store);
  const pool = pools.find((p) => p.cidr.contains(ip));
  if (!pool) throw new TabbyError("IPAM_NO_POOL", `${ip} is in no IP pool`, { ip: ip.toString() });
  const cidr = blockCidrOf(ip, pool.blockSize).toString();
  const key = blockKey(cidr);
  const attrs: AssignAttrs = { handle: req.handle, secondary: req.attrs };
  const want = `host:${req.node}`;
  await retry(st, `assign ${ip}`, async (): Promise<Attempt<void>> => {
    const kv = await st.store.get(key);
    if (!kv) {
      await tryClaim(st, req.node, cidr);
      return RETRY; // claimed by us or someone else: read it again either way
    }
    const block = decodeBlock(kv.value);
    if (config.strictAffinity && block.affinity !== want) {
      throw new TabbyError("IPAM_STRICT_AFFINITY", `${ip} is in block ${cidr} of ${block.affinity ?? "no host"}, and affinity is strict`, {
        ip: ip.toString(),
        cidr,
      });
    }
    const { block: next } = assignAddress(block, ip, attrs);
    await changeHandle(st, req.handle, cidr, 1);
    try {
      await st.store.update(key, encodeBlock(next), { revision: kv.revision });
    } catch (err) {
      await changeHandle(st, req.handle, cidr, -1).catch(() => undefined);
      if (isConflict(err) || isNotFound(err)) return RETRY;
      throw err;
    }
    return undefined;
  });
  return hostPrefix(ip).toString();
}
