/**
 * A small stand-in for libcni (containernetworking/cni/libcni), to run a network configuration
 * list the way runtimes do: ADD through the plugins in order, each one's result handed to the next
 * as `prevResult`; CHECK in order and DEL in reverse order, both with the cached ADD result as
 * `prevResult` (0.4.0 and later); each plugin's config gets the list's `cniVersion` and `name`,
 * and `runtimeConfig` holds only the capability arguments the plugin declares in `capabilities`.
 * GC and STATUS (1.1.0) go to every plugin, GC with `cni.dev/valid-attachments`. Plugins are
 * found in `binDirs` (CNI_PATH) and may be run inside a network namespace standing for the host.
 */
import { execFileSync } from "node:child_process";
import { run, type Ran } from "./helpers.js";
import { accessSync, constants } from "node:fs";
import { join } from "node:path";

export interface Conflist {
  cniVersion: string;
  name: string;
  plugins: Record<string, unknown>[];
}

export interface Invocation {
  containerId: string;
  netns: string;
  ifname: string;
  args?: string;
  capabilityArgs?: Record<string, unknown>;
}

/** One plugin process's exit code and output. */
export type PluginRun = Ran;

export class CniPluginError extends Error {
  constructor(
    readonly plugin: string,
    readonly verb: string,
    readonly out: PluginRun,
  ) {
    super(`${plugin} ${verb} failed (exit ${out.code}): ${out.stdout.trim()} ${out.stderr.trim()}`);
  }
  get json(): { code?: number; msg?: string } {
    try {
      return JSON.parse(this.out.stdout) as { code?: number; msg?: string };
    } catch {
      return {};
    }
  }
}

export class LibCni {
  constructor(
    readonly binDirs: string[],
    /** Namespace to run plugins in (the "host"), or undefined for ours. */
    readonly hostNetns?: string,
    readonly extraEnv: Record<string, string> = {},
  ) {}

  find(type: string): string {
    for (const d of this.binDirs) {
      const f = join(d, type);
      try {
        accessSync(f, constants.X_OK);
        return f;
      } catch {
        /* next */
      }
    }
    throw new Error(`plugin ${type} not in ${this.binDirs.join(":")}`);
  }

  /** Runs one plugin with a config object and the CNI_* environment. */
  exec(type: string, verb: string, conf: unknown, inv: Partial<Invocation>): Promise<PluginRun> {
    const file = this.find(type);
    const [cmd, args] = this.hostNetns ? ["ip", ["netns", "exec", this.hostNetns, file]] : [file, []];
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
      ...this.extraEnv,
      CNI_COMMAND: verb,
      CNI_CONTAINERID: inv.containerId ?? "",
      CNI_NETNS: inv.netns ?? "",
      CNI_IFNAME: inv.ifname ?? "",
      CNI_ARGS: inv.args ?? "",
      CNI_PATH: this.binDirs.join(":"),
    };
    // a runtime gives the plugin its own environment, not the runtime's
    return run(cmd, args, { env, cleanEnv: true, input: typeof conf === "string" ? conf : JSON.stringify(conf) });
  }

  /** The config one plugin of the list receives (libcni's buildOneConfig + injectRuntimeConfig). */
  pluginConf(list: Conflist, plugin: Record<string, unknown>, inv: Partial<Invocation>, prevResult?: unknown): Record<string, unknown> {
    const conf: Record<string, unknown> = { ...plugin, cniVersion: list.cniVersion, name: list.name };
    const caps = (plugin.capabilities ?? {}) as Record<string, boolean>;
    const rc: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(inv.capabilityArgs ?? {})) if (caps[k]) rc[k] = v;
    if (Object.keys(rc).length) conf.runtimeConfig = rc;
    if (prevResult !== undefined) conf.prevResult = prevResult;
    return conf;
  }

  private async must(type: string, verb: string, conf: unknown, inv: Partial<Invocation>): Promise<PluginRun> {
    const r = await this.exec(type, verb, conf, inv);
    if (r.code !== 0) throw new CniPluginError(type, verb, r);
    return r;
  }

  async add(list: Conflist, inv: Invocation): Promise<Record<string, unknown>> {
    let prev: unknown;
    for (const p of list.plugins) {
      const r = await this.must(String(p.type), "ADD", this.pluginConf(list, p, inv, prev), inv);
      prev = JSON.parse(r.stdout);
    }
    return prev as Record<string, unknown>;
  }

  async check(list: Conflist, inv: Invocation, cached: unknown): Promise<void> {
    for (const p of list.plugins) await this.must(String(p.type), "CHECK", this.pluginConf(list, p, inv, cached), inv);
  }

  /** DEL in reverse order; every plugin runs even when one fails; throws the first failure. */
  async del(list: Conflist, inv: Invocation, cached?: unknown): Promise<void> {
    let first: unknown;
    for (const p of [...list.plugins].reverse()) {
      try {
        await this.must(String(p.type), "DEL", this.pluginConf(list, p, inv, cached), inv);
      } catch (e) {
        first ??= e;
      }
    }
    if (first) throw first;
  }

  async gc(list: Conflist, valid: { containerID: string; ifname: string }[]): Promise<void> {
    for (const p of list.plugins) {
      await this.must(String(p.type), "GC", { ...this.pluginConf(list, p, {}), "cni.dev/valid-attachments": valid }, {});
    }
  }

  async status(list: Conflist): Promise<void> {
    for (const p of list.plugins) await this.must(String(p.type), "STATUS", this.pluginConf(list, p, {}), {});
  }
}

/** `ip -n NS ARGS…`, its output; `ipJson` parses `ip -j`. */
export const ipIn = (ns: string, ...args: string[]) => execFileSync("ip", ["-n", ns, ...args], { encoding: "utf8" });
export const ipJson = (ns: string, ...args: string[]) => JSON.parse(execFileSync("ip", ["-n", ns, "-j", ...args], { encoding: "utf8" }) || "[]");

/**
 * Makes namespace `host` (which must exist) a host with an uplink: a veth `up0` to namespace `up`
 * (which must exist), `<v4>.1/24` and `<v6>::1/64` on it, and default routes via `.2` / `::2`, so
 * the plugin finds a default route (for the MTU) as on a real host.
 */
export function hostWithUplink(host: string, up: string, v4: string, v6: string, mtu?: number): void {
  const m = mtu ? ["mtu", String(mtu)] : [];
  ipIn(host, "link", "add", "name", "up0", ...m, "type", "veth", "peer", "name", "up1", ...m, "netns", up);
  for (const [ns, dev] of [
    [host, "up0"],
    [up, "up1"],
    [host, "lo"],
    [up, "lo"],
  ] as const)
    ipIn(ns, "link", "set", dev, "up");
  ipIn(host, "addr", "add", `${v4}.1/24`, "dev", "up0");
  ipIn(host, "-6", "addr", "add", `${v6}::1/64`, "dev", "up0", "nodad");
  ipIn(up, "addr", "add", `${v4}.2/24`, "dev", "up1");
  ipIn(up, "-6", "addr", "add", `${v6}::2/64`, "dev", "up1", "nodad");
  ipIn(host, "route", "add", "default", "via", `${v4}.2`);
  ipIn(host, "-6", "route", "add", "default", "via", `${v6}::2`);
}
