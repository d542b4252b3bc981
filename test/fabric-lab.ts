/**
 * Shared by the routed-fabric lab tests (lab-fabric*.test.ts): reading the lab's status, a host's
 * kernel routes, and what each ToR received from a host — from BIRD (birdc) or FRR (vtysh) — and
 * probing an address from inside a workload with the lab's own probe.
 */
import { join } from "node:path";
import { NODE, PROBE } from "../src/lab/paths.js";
import type { ProbeResult, ProbeTarget } from "../src/lab/probe.js";
import assert from "node:assert/strict";
import { run, tabby } from "./helpers.js";

export interface FabricStatus {
  topology: string;
  fabric: { racks: number; hostsPerRack: number; tor: string; asModel: string };
  hosts: { name: string; rack: string; namespace: string; ipv4: string; ipv6: string }[];
  routers: { name: string; kind: "bird" | "frr" | "tabby"; role: "tor" | "spine"; rack: string | null; namespace: string; pid: number; running: boolean }[];
  anycast: { address: string; workloads: string[] }[];
  workloads: { name: string; host: string; namespace: string; ipv4: string; ipv6: string }[];
}

export async function fabricStatus(name: string, env: NodeJS.ProcessEnv): Promise<FabricStatus> {
  const r = await tabby(["lab", "status", "--name", name, "-o", "json"], env);
  if (r.code !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as FabricStatus;
}

/** A host's tabby routes: prefix → next hops. */
export async function hostRoutes(netns: string): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const fam of ["-4", "-6"]) {
    const r = await run("ip", ["-n", netns, "-j", fam, "route", "show", "proto", "152"]);
    for (const row of JSON.parse(r.stdout || "[]") as { dst: string; type?: string; gateway?: string; nexthops?: { gateway: string }[] }[]) {
      if (row.type === "blackhole") continue;
      out.set(row.dst, row.nexthops ? row.nexthops.map((n) => n.gateway) : row.gateway ? [row.gateway] : []);
    }
  }
  return out;
}

/** The prefixes a host originates: its blocks (the blackholes tabby holds for them) and extra /32s. */
export async function hostOriginated(netns: string): Promise<Set<string>> {
  const out = new Set<string>();
  for (const fam of ["-4", "-6"]) {
    const r = await run("ip", ["-n", netns, "-j", fam, "route", "show", "proto", "152"]);
    for (const row of JSON.parse(r.stdout || "[]") as { dst: string; type?: string }[]) if (row.type === "blackhole") out.add(row.dst);
  }
  return out;
}

/** Prefixes (both families) a ToR holds from the session with `hostIPv4`, read from its daemon. */
export async function torReceivedFrom(labDir: string, router: { name: string; kind: string }, host: { name: string; ipv4: string }): Promise<string[]> {
  const dir = join(labDir, router.name);
  if (router.kind === "bird") {
    const r = await run("birdc", ["-s", join(dir, "bird.ctl"), "show", "route", "protocol", `p_${host.name}`, "table", "all"]);
    return [...r.stdout.matchAll(/^([0-9a-f.:]+\/\d+)\s/gm)].map((m) => m[1]!);
  }
  if (router.kind === "frr") {
    const out: string[] = [];
    for (const fam of ["ipv4", "ipv6"]) {
      const r = await run("vtysh", [
        "--vty_socket",
        dir,
        "--config_dir",
        dir,
        "-d",
        "bgpd",
        "-c",
        `show bgp ${fam} unicast neighbors ${host.ipv4} routes json`,
      ]);
      const j = JSON.parse(r.stdout || "{}") as { routes?: Record<string, unknown> };
      out.push(...Object.keys(j.routes ?? {}));
    }
    return out;
  }
  const out: string[] = [];
  for (const fam of ["ipv4", "ipv6"]) {
    const r = await tabby(["bgp", "routes", "--control", join(dir, "tabby.sock"), "--family", fam, "-o", "json"]);
    for (const v of JSON.parse(r.stdout || "[]") as { prefix: string; paths: { peer: string }[] }[])
      if (v.paths.some((p) => p.peer === host.ipv4)) out.push(v.prefix);
  }
  return out;
}

/** Runs the lab's probe inside a namespace. */
export async function probeFrom(netns: string, targets: ProbeTarget[]): Promise<ProbeResult[]> {
  const r = await run("ip", ["netns", "exec", netns, NODE, PROBE, JSON.stringify(targets)]);
  return JSON.parse(r.stdout) as ProbeResult[];
}

/**
 * No host is a transit: every ToR receives from each host of its rack something, and nothing but
 * what that host originates (its blocks and the anycast addresses its workloads hold), never a
 * route the host learned from the other ToR.
 */
export async function assertNoTransit(labDir: string, st: FabricStatus): Promise<void> {
  for (const h of st.hosts) {
    const own = await hostOriginated(h.namespace);
    for (const a of st.anycast)
      if (a.workloads.some((w) => w.startsWith(`${h.name}-`))) own.add(a.address.includes(":") ? `${a.address}/128` : `${a.address}/32`);
    for (const tor of st.routers.filter((r) => r.rack === h.rack)) {
      const got = await torReceivedFrom(labDir, tor, h);
      assert.ok(got.length > 0, `${tor.name} has nothing from ${h.name}`);
      assert.deepEqual(
        got.filter((p) => !own.has(p)),
        [],
        `${tor.name} (${tor.kind}) received from ${h.name} routes it did not originate`,
      );
    }
  }
}
