/** The objects of table `inet tabby` as rendered (render.ts): sets, verdict maps, chains. */

export interface NftSet {
  /** "ipv4_addr", "ifname . ipv4_addr", … */
  type: string;
  interval: boolean;
  comment?: string;
  /** Element texts as written in a script. */
  elements: Set<string>;
}
export interface NftMap {
  type: string;
  /** Key text → verdict text ("goto fw-tab…"). */
  elements: Map<string, string>;
}
export interface NftChain {
  /** Base chain declaration ("type filter hook input priority filter; policy accept;"). */
  hook?: string;
  rules: string[];
}
/** Everything in table inet tabby, in script order. */
export interface Rendered {
  sets: Map<string, NftSet>;
  maps: Map<string, NftMap>;
  chains: Map<string, NftChain>;
}
