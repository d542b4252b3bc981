/**
 * What `tabby lab fail TARGET` does, worked out from the lab's layout (issue #13 drills):
 *
 * - `HOST` (h1): the host's agent dies (SIGKILL, as a crash); `heal` starts it again. The
 *   dataplane stays: with graceful restart (the default) nothing should be lost.
 * - `ROUTER` (a fabric ToR or spine, an rr topology reflector): the router dies — its daemons
 *   are killed and its namespace forwards nothing (every packet dropped); `heal` lifts the drop
 *   and starts the daemons again.
 * - `A:B` a link: a host's fabric link (`h1:fabric` in mesh and rr, also `rr1:fabric`), a
 *   host↔ToR link (`h1:r1a`) or a ToR↔spine link (`r1a:sp1`) in the fabric topology. The cut is
 *   silent, as a broken path past a switch: every IP packet in or out of that interface is
 *   dropped on the first side (nftables), the carrier stays up, so only BFD or the BGP hold timer
 *   notice it. `heal` removes the drop.
 * Pure: no I/O.
 */
import { TabbyError } from "../errors.js";
import type { LabState } from "./state.js";

export type LabFailure =
  | { target: string; kind: "agent"; host: string }
  | { target: string; kind: "router"; router: string; netns: string }
  | { target: string; kind: "reflector"; reflector: string; netns: string }
  | { target: string; kind: "link"; netns: string; ifname: string };

/** The nftables table a failure adds in its namespace (never tabby's own `inet tabby`). */
export function failTable(f: LabFailure): string {
  return f.kind === "link" ? `tabbylab_cut_${f.ifname.replace(/[^a-zA-Z0-9_]/g, "_")}` : "tabbylab_dead";
}

/** The nftables ruleset that makes the failure, loaded with `nft -f -`. */
export function failRuleset(f: LabFailure): string | undefined {
  if (f.kind === "agent") return undefined;
  const table = failTable(f);
  const inMatch = f.kind === "link" ? `iifname "${f.ifname}" ` : "";
  const outMatch = f.kind === "link" ? `oifname "${f.ifname}" ` : "";
  return [
    `table inet ${table} {`,
    `  chain pre { type filter hook prerouting priority -400; policy accept; ${inMatch}drop; }`,
    `  chain out { type filter hook output priority -400; policy accept; ${outMatch}drop; }`,
    `  chain post { type filter hook postrouting priority -400; policy accept; ${outMatch}drop; }`,
    `}`,
    "",
  ].join("\n");
}

/** Every target `fail` takes in this lab, for help and errors. */
export function failTargets(state: LabState): string[] {
  const out = state.plan.hosts.map((h) => h.name);
  if (state.fabric) {
    out.push(...state.fabric.routers.map((r) => r.name));
    for (const h of state.fabric.hosts) for (const u of h.uplinks) out.push(`${h.name}:${u.tor}`);
    for (const r of state.fabric.routers) if (r.up) out.push(`${r.name}:${r.up.peerName}`);
  } else {
    out.push(...(state.reflectors ?? []).map((r) => r.name));
    out.push(...state.plan.hosts.map((h) => `${h.name}:fabric`), ...(state.reflectors ?? []).map((r) => `${r.name}:fabric`));
  }
  return out;
}

export function planFailure(state: LabState, target: string): LabFailure {
  const unknown = () => new TabbyError("LAB_NO_TARGET", `no failure target "${target}" in lab ${state.name}; one of: ${failTargets(state).join(", ")}`);
  const parts = target.split(":");
  if (parts.length === 1) {
    if (state.plan.hosts.some((h) => h.name === target)) return { target, kind: "agent", host: target };
    const r = state.fabric?.routers.find((x) => x.name === target);
    if (r) return { target, kind: "router", router: r.name, netns: r.netns };
    const rr = state.reflectors?.find((x) => x.name === target);
    if (rr) return { target, kind: "reflector", reflector: rr.name, netns: rr.netns };
    throw unknown();
  }
  if (parts.length !== 2) throw unknown();
  const [a, b] = parts as [string, string];
  if (state.fabric) {
    for (const [x, y] of [
      [a, b],
      [b, a],
    ] as const) {
      const h = state.fabric.hosts.find((hh) => hh.name === x);
      const up = h?.uplinks.find((u) => u.tor === y);
      const host = state.plan.hosts.find((hh) => hh.name === x);
      if (up && host) return { target, kind: "link", netns: host.netns, ifname: up.ifname };
      const r = state.fabric.routers.find((rr) => rr.name === x);
      if (r?.up && r.up.peerName === y) return { target, kind: "link", netns: r.netns, ifname: r.up.ifname };
    }
    throw unknown();
  }
  if (b !== "fabric") throw unknown();
  const host = state.plan.hosts.find((h) => h.name === a);
  if (host) return { target, kind: "link", netns: host.netns, ifname: "eth0" };
  const rr = state.reflectors?.find((r) => r.name === a);
  if (rr) return { target, kind: "link", netns: rr.netns, ifname: "eth0" };
  throw unknown();
}
