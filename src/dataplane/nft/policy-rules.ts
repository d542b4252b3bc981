/**
 * Rule text: the mark-bit tests, the rules of a policy's (or profile's) chain, and the body of
 * an endpoint chain (§3.3), with the flow-log NFLOG statements of their verdicts.
 */
import type { CompiledRule, Direction, EndpointDirectionPolicy, PolicyUpdate, RuleMatch } from "../../calc/policy-output.js";
import { renderMatch } from "./match.js";
import { MARK_ACCEPT, MARK_MASK, MARK_PASS, hex32, nftString, policyChain } from "./names.js";

const A = hex32(MARK_ACCEPT);
const P = hex32(MARK_PASS);
const ZERO = hex32(0);
export const CLEAR_ALL = `meta mark set meta mark & ${hex32(~MARK_MASK)}`;
const CLEAR_PASS = `meta mark set meta mark & ${hex32(~MARK_PASS)}`;
export const IF_ACCEPTED = `meta mark & ${A} == ${A}`;
export const IF_NOT_ACCEPTED = `meta mark & ${A} == ${ZERO}`;
const IF_NOT_PASSED = `meta mark & ${P} == ${ZERO}`;
const SET_ACCEPT_RETURN = `meta mark set meta mark | ${A} return`;
const SET_PASS_RETURN = `meta mark set meta mark | ${P} return`;

export type Mode = "normal" | "forward" | "prednat" | "untracked";

export interface RenderOptions {
  logPrefix: string;
  logRateLimitPerSecond: number;
  /**
   * Flow logs (src/flows/): the NFLOG group that allow and deny verdicts and end-of-tier drops
   * copy their packet to, with a prefix naming the policy, direction and rule. Absent: none.
   * Only a connection's first packet reaches the policy chains (established traffic is accepted
   * before them), so allowed flows cost one log per connection; denied ones one per packet.
   */
  flowLogGroup?: number;
}

/**
 * The NFLOG statement of a flow-log verdict: prefix `F <A|D> <what> <dir> <rule number|->`, at
 * most 127 bytes, written in the order `nft list` prints it (so readback sees no drift).
 */
export function flowLog(group: number, verdict: "A" | "D", what: string, dir: Direction, rule: string): string {
  return `log prefix ${nftString(`F ${verdict} ${what.slice(0, 100)} ${dir} ${rule}`)} group ${group}`;
}

export function comment(text: string): string {
  return `comment ${nftString(text.slice(0, 120))}`;
}

/** The nft rules of one compiled rule (zero, one or several: families and OR alternatives). */
export function renderRule(rule: CompiledRule, opts: RenderOptions, at?: { id: string; dir: Direction; index: number }): string[] {
  let action: string;
  const flow = (v: "A" | "D") => (opts.flowLogGroup !== undefined && at ? `${flowLog(opts.flowLogGroup, v, at.id, at.dir, String(at.index + 1))} ` : "");
  switch (rule.action) {
    case "allow":
      action = flow("A") + SET_ACCEPT_RETURN;
      break;
    case "deny":
      action = flow("D") + "drop";
      break;
    case "pass":
      action = SET_PASS_RETURN;
      break;
    case "log": {
      const limit = opts.logRateLimitPerSecond > 0 ? `limit rate ${Math.floor(opts.logRateLimitPerSecond)}/second ` : "";
      action = `${limit}log prefix ${nftString(opts.logPrefix.slice(0, 120))}`;
      break;
    }
  }
  return renderMatch(rule.match as RuleMatch).map((m) => [m.text, action, comment(rule.id)].filter((s) => s).join(" "));
}

/** A policy's (or profile's) chain rules in one direction. */
export function renderPolicyRules(p: PolicyUpdate | undefined, id: string, dir: Direction, opts: RenderOptions): string[] {
  if (!p) return id.startsWith("pro/") ? [`drop ${comment("missing profile " + id)}`] : [];
  return (dir === "ingress" ? p.ingress : p.egress).flatMap((r, index) => renderRule(r, opts, { id, dir, index }));
}

/** The body of an endpoint chain (§3.3). */
export function renderEndpointRules(
  pol: EndpointDirectionPolicy,
  dir: Direction,
  mode: Mode,
  opts: { failsafe?: "in" | "out"; invalidDrop?: boolean; flowLogGroup?: number } = {},
): string[] {
  const flow = (what: string) => (opts.flowLogGroup !== undefined ? `${flowLog(opts.flowLogGroup, "D", what, dir, "-")} ` : "");
  const rules = [CLEAR_ALL];
  if (opts.invalidDrop) rules.push("ct state invalid drop");
  if (opts.failsafe) rules.push(`jump failsafe-${opts.failsafe}`);
  const endOfTierDrop = mode === "normal" || mode === "forward";
  pol.tiers.forEach((tier, ti) => {
    if (!tier.policies.length) return;
    if (ti > 0) rules.push(`${CLEAR_PASS} ${comment("start of tier " + tier.name)}`);
    tier.policies.forEach((pid, pi) => {
      rules.push(`${pi > 0 ? IF_NOT_PASSED + " " : ""}jump ${policyChain(pid, dir)}`);
      rules.push(`${IF_ACCEPTED} return`);
    });
    if (endOfTierDrop && tier.defaultAction === "deny") {
      rules.push(`${IF_NOT_PASSED} ${flow("end-of-tier " + tier.name)}drop ${comment("end of tier " + tier.name)}`);
    }
  });
  if (endOfTierDrop) {
    for (const pid of pol.profiles) {
      rules.push(`jump ${policyChain(pid, dir)}`);
      rules.push(`${IF_ACCEPTED} return`);
    }
    rules.push(`${flow(pol.profiles.length ? "no-profile-accepted" : "no-policy-or-profile")}drop ${comment("no profile accepted")}`);
  }
  return rules;
}
