/**
 * The nft expression for "a workload interface" (FelixConfiguration `interfacePrefix`,
 * src/net/iface-prefix.ts): `"tab*"` for one prefix (the form the default always rendered),
 * `{ "tab*", "tap*", "vnet3" }` for several (an anonymous set; nft takes wildcards in one).
 * Pure.
 */
import { matchesPrefix } from "../../net/iface-prefix.js";
import { nftString } from "./names.js";

/** `extra` are exact names (local endpoints' interfaces no prefix covers). */
export function nftIfaceMatch(prefixes: readonly string[], extra: Iterable<string> = []): string {
  const items = prefixes.map((p) => `"${p}*"`);
  for (const n of [...new Set(extra)].sort()) if (!matchesPrefix(n, prefixes)) items.push(nftString(n));
  return items.length === 1 ? items[0]! : `{ ${items.join(", ")} }`;
}
