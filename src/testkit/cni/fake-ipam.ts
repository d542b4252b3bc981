/**
 * A small in-memory IpamApi for tests of the CNI plugins (not the real allocator: hands out the
 * next free address of one IPv4 and one IPv6 pool, keyed by handle). Either pool may be absent,
 * in which case requests for that family fail with IPAM_NO_POOL, as the real IPAM does.
 */
import { TabbyError } from "../../errors.js";
import type { AssignRequest, AssignResult, BlockInfo, IpamApi } from "../../ipam/api.js";
import { parsePrefix } from "../../net/prefix.js";

export class FakeIpam implements IpamApi {
  readonly byHandle = new Map<string, string[]>();
  private next4 = 1n;
  private next6 = 1n;
  constructor(
    private readonly pool4?: string,
    private readonly pool6?: string,
  ) {}

  async autoAssign(req: AssignRequest): Promise<AssignResult> {
    const out: AssignResult = { ipv4: [], ipv6: [] };
    if (req.num4 > 0 && !this.pool4) throw new TabbyError("IPAM_NO_POOL", "no IPv4 pool");
    if (req.num6 > 0 && !this.pool6) throw new TabbyError("IPAM_NO_POOL", "no IPv6 pool");
    for (let i = 0; i < req.num4; i++) out.ipv4.push(`${parsePrefix(this.pool4!).nth(this.next4++)}/32`);
    for (let i = 0; i < req.num6; i++) out.ipv6.push(`${parsePrefix(this.pool6!).nth(this.next6++)}/128`);
    this.byHandle.set(req.handle, [...(this.byHandle.get(req.handle) ?? []), ...out.ipv4, ...out.ipv6]);
    return out;
  }
  async releaseByHandle(handle: string): Promise<number> {
    const n = this.byHandle.get(handle)?.length ?? 0;
    this.byHandle.delete(handle);
    return n;
  }
  async addressesOfHandle(handle: string): Promise<string[]> {
    return [...(this.byHandle.get(handle) ?? [])];
  }
  async blocksOfNode(): Promise<BlockInfo[]> {
    return [];
  }
  async allBlocks(): Promise<BlockInfo[]> {
    return [];
  }
}
