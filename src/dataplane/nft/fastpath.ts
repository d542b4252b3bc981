/**
 * The fast path for established forwarded traffic (issue #15), and what happens to established
 * connections when policy changes (docs/policy.md, "Established connections").
 *
 * Calico (felix, iptables and nftables modes) accepts RELATED,ESTABLISHED first in every chain
 * (calico-spec §3.3), so a connection, once allowed, outlives any later policy that denies it
 * (projectcalico/calico#2759, #6399: felix has no option to cut it). tabby keeps the cheap first
 * rule but judges each forwarded connection once more after every policy change:
 *
 *   - The connection's conntrack mark holds the policy epoch it was last judged under. The
 *     driver moves the epoch on, in the same transaction, with every change that can change a
 *     forwarded connection's verdict (policyChanged: policy and endpoint chains, dispatch maps,
 *     the policies' IP sets); the epoch is written into the forward hook's rules. Changes that
 *     cannot (the control-plane sets, which raw prerouting checks on every packet anyway; the
 *     anti-spoofing sets, likewise; natOutgoing's pools) leave it, and every rule, alone.
 *   - First rule: established, judged under this epoch → accept (one conntrack-mark compare:
 *     the fast path; no policy chain, no set lookup). Related (ICMP errors) → accept.
 *   - Denied under this epoch → drop, both directions.
 *   - Established from an older epoch: a packet in the reply direction is accepted (it cannot be
 *     judged as the connection's first packet was); a packet in the original direction goes
 *     through the whole policy again as if it opened the connection, its connection marked
 *     "denied under this epoch" first; if policy accepts it, the hook's last rule marks the
 *     connection judged under this epoch. So a connection the new policy denies is cut at its
 *     next original-direction packet (for TCP within a round trip: the opener's data or ACKs),
 *     in both directions; a connection it still allows goes on without a gap.
 *
 * Traffic that enters and leaves the host itself (workload to its own host, host endpoints'
 * normal policy) keeps Calico's semantics: established is accepted whatever the epoch.
 * Anti-spoofing runs in raw prerouting before conntrack, for every packet of every connection:
 * the fast path never skips it. Pure: rule texts only.
 */
import { CT_DENIED, CT_EPOCH_MAX, CT_EPOCH_SHIFT, CT_MASK, hex32 } from "./names.js";
import type { Rendered } from "./render.js";

/** Sets whose members never decide a forwarded connection's policy verdict (see above). */
const NOT_POLICY_SETS = /^(cp-|wl-src|nat-pools|all-pools)/;

/**
 * Whether `to` can judge an established forwarded connection differently from `from`: a policy,
 * endpoint or dispatch chain, a verdict map or a policy's IP set differs. Base chains (hooks)
 * are left out: they differ by the epoch itself. Pure.
 */
export function policyChanged(from: Rendered, to: Rendered): boolean {
  const sameSet = <T>(a: Set<T>, b: Set<T>) => a.size === b.size && [...a].every((x) => b.has(x));
  for (const name of new Set([...from.sets.keys(), ...to.sets.keys()])) {
    if (NOT_POLICY_SETS.test(name)) continue;
    const a = from.sets.get(name);
    const b = to.sets.get(name);
    if (a === b) continue;
    if (!a || !b || !sameSet(a.elements, b.elements)) return true;
  }
  for (const name of new Set([...from.maps.keys(), ...to.maps.keys()])) {
    const a = from.maps.get(name);
    const b = to.maps.get(name);
    if (a === b) continue;
    if (!a || !b || a.elements.size !== b.elements.size || [...a.elements].some(([k, v]) => b.elements.get(k) !== v)) return true;
  }
  for (const name of new Set([...from.chains.keys(), ...to.chains.keys()])) {
    const a = from.chains.get(name);
    const b = to.chains.get(name);
    if (a === b || a?.hook || b?.hook) continue;
    if (!a || !b || a.rules.length !== b.rules.length || a.rules.some((r, i) => r !== b.rules[i])) return true;
  }
  return false;
}

/** An epoch in range (1..32767), wrapping. */
export function nextEpoch(epoch: number): number {
  return (epoch % CT_EPOCH_MAX) + 1;
}

function value(epoch: number): number {
  if (!Number.isInteger(epoch) || epoch < 1 || epoch > CT_EPOCH_MAX) throw new RangeError(`policy epoch ${epoch} out of 1..${CT_EPOCH_MAX}`);
  return epoch << CT_EPOCH_SHIFT;
}

const SET = (v: number) => `ct mark set ct mark & ${hex32(~CT_MASK)} | ${hex32(v)}`;

/** The forward hook's first rules: the fast path and the re-judging of older connections. */
export function forwardHead(epoch: number): string[] {
  const e = value(epoch);
  return [
    `ct state established ct mark & ${hex32(CT_MASK)} == ${hex32(e)} accept comment "fast path: judged under the current policy"`,
    "ct state related accept",
    `ct state established ct mark & ${hex32(CT_MASK)} == ${hex32(CT_DENIED | e)} drop comment "denied by the current policy"`,
    "ct state established ct direction reply accept",
    `ct state established ${SET(CT_DENIED | e)} comment "judged again under the current policy"`,
  ];
}

/** The forward hook's last rule: the packet was accepted, its connection judged under `epoch`. */
export function forwardTail(epoch: number): string {
  return SET(value(epoch));
}
