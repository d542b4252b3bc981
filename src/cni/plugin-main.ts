/**
 * Entry for the CNI plugins `tabby` and `tabby-ipam` when run by a container runtime: reads the
 * network configuration from stdin and the CNI_* environment, dispatches on CNI_COMMAND, prints the
 * result or the error JSON (CNI spec 1.0) and returns the exit code (0 or 1). The verbs' modules,
 * the store and IPAM are loaded only when the verb needs them, so VERSION starts fast.
 * `dispatchCni` is the same with every effect injected (tests run it in process).
 */
import { fstatSync, readFileSync, writeSync } from "node:fs";
import type { Clock } from "../clock.js";
import type { Store } from "../datastore/store.js";
import type { IpamApi } from "../ipam/api.js";
import type { CommandRunner } from "../dataplane/exec.js";
import type { SysctlWriter } from "../dataplane/sysctl.js";
import { DEFAULT_VERSION, answerVersion, hasStatusAndGc, isLegacyVersion, parseCniArgs, parseEnv, parseNetConf, versionResult } from "./config.js";
import type { HostLock } from "./lock.js";
import type { WorkloadPlumbing } from "./plumbing.js";
import type { DelegateIpam } from "./delegate.js";
import { CNI_ERR, CniError, errorJson } from "./errors.js";

export type PluginName = "tabby" | "tabby-ipam";

/** Everything the plugins touch outside themselves. */
export interface CniRuntime {
  openStore(url: string | undefined): Promise<Store>;
  openIpam(store: Store): Promise<IpamApi>;
  runner: CommandRunner;
  /** Namespace standing for the host (tests); undefined: the plugin's own. */
  hostNetns?: string;
  hostSysctl: SysctlWriter;
  delegateIpam: DelegateIpam;
  clock: Clock;
  /** The node name when neither the config's `nodename` nor TABBY_NODENAME gives one. */
  hostname(): string;
  /** The host-wide IPAM lock; default none. */
  ipamLock?: HostLock;
  /** The veth MTU when the config has none; default: the uplink's MTU in `hostNetns`. */
  detectMtu?: () => Promise<number | undefined>;
  /** ADD's wait for the agent (endpoint-status.ts); default: poll the status directory. */
  waitProgrammed?: (w: { dir: string; iface: string; id: string; addrs: string[]; timeoutMs: number }) => Promise<boolean>;
  /** ADD's and DEL's kernel work; default: rtnetlink in `hostNetns` (plumbing.ts). */
  plumbing?: () => WorkloadPlumbing;
}

export interface CniOutcome {
  exitCode: number;
  /** What goes to stdout ("" for a successful DEL or CHECK). */
  stdout: string;
}

const json = (v: unknown) => JSON.stringify(v) + "\n";

export async function dispatchCni(name: PluginName, stdin: string, env: Record<string, string | undefined>, rt: CniRuntime): Promise<CniOutcome> {
  let version = DEFAULT_VERSION;
  let store: Store | undefined;
  let plumbing: WorkloadPlumbing | undefined;
  try {
    if (env.CNI_COMMAND === "VERSION") return { exitCode: 0, stdout: json(versionResult(stdin)) };
    version = answerVersion(stdin);
    const cenv = parseEnv(env);
    const conf = parseNetConf(stdin, { requireIpam: true });
    if (name === "tabby-ipam" && conf.ipam?.type !== "tabby-ipam") {
      throw new CniError(CNI_ERR.INVALID_CONFIG, `network configuration: ipam.type is ${JSON.stringify(conf.ipam?.type)}, not "tabby-ipam"`);
    }
    if (cenv.command === "CHECK" && isLegacyVersion(conf.cniVersion) && conf.cniVersion !== "0.4.0") {
      throw new CniError(CNI_ERR.INCOMPATIBLE_VERSION, `CHECK is not defined for CNI version ${conf.cniVersion}`);
    }
    if ((cenv.command === "STATUS" || cenv.command === "GC") && !hasStatusAndGc(conf.cniVersion)) {
      throw new CniError(CNI_ERR.INCOMPATIBLE_VERSION, `${cenv.command} is not defined for CNI version ${conf.cniVersion} (1.1.0 and later)`);
    }
    const args = parseCniArgs(cenv.args);
    const node = conf.nodename ?? env.TABBY_NODENAME ?? rt.hostname();
    // Memoised as promises: callers may ask side by side.
    let storeP: Promise<Store> | undefined;
    const getStore = () =>
      (storeP ??= rt.openStore(conf.datastore ?? env.TABBY_DATASTORE).then((s) => {
        store = s;
        return s;
      }));
    let ipamP: Promise<IpamApi> | undefined;
    const getIpam = () => (ipamP ??= getStore().then((s) => rt.openIpam(s)));
    const lock: HostLock = rt.ipamLock ?? ((fn) => fn());
    const tabbyIpam = conf.ipam?.type === "tabby-ipam";
    const nsPools = async (ns: string) => (await import("./gc-status.js")).namespacePools(await getStore(), ns);
    const done = { exitCode: 0, stdout: "" };

    if (cenv.command === "STATUS") {
      const { status } = await import("./gc-status.js");
      await status(getStore, tabbyIpam);
      if (!tabbyIpam) await rt.delegateIpam("STATUS", conf, cenv);
      return done;
    }
    if (cenv.command === "GC") {
      const gc = await import("./gc-status.js");
      const valid = conf.validAttachments ?? [];
      if (name === "tabby") await gc.netGc(await getStore(), rt.runner, rt.hostNetns, node, valid);
      if (tabbyIpam) {
        const [s, i] = [await getStore(), await getIpam()];
        await lock(() => gc.ipamGc(s, i, node, valid));
      } else {
        await rt.delegateIpam("GC", conf, cenv);
      }
      return done;
    }

    if (name === "tabby-ipam") {
      const m = await import("./ipam-plugin.js");
      const deps = { ipam: await getIpam(), node, namespacePools: nsPools };
      if (cenv.command === "ADD") {
        const { formatResult } = await import("./result.js");
        return { exitCode: 0, stdout: json(formatResult(await lock(() => m.ipamAdd(conf, cenv, args, deps)), conf.cniVersion)) };
      }
      if (cenv.command === "DEL") await lock(() => m.ipamDel(cenv, deps));
      else await m.ipamCheck(cenv, deps);
      return done;
    }

    // The store and IPAM are opened when the verb first needs them. The netlink FFI is loaded
    // before the verb starts, so that its first kernel request (DEL's veth removal, tens of ms in
    // the kernel) is under way before better-sqlite3 loads beside it.
    const m = await import("./net-plugin.js");
    plumbing = rt.plumbing ? rt.plumbing() : await (await import("./plumbing.js")).NetlinkPlumbing.create(rt.hostNetns);
    const detectMtu =
      rt.detectMtu ??
      (async () => {
        const { detectUplinkMtu } = await import("./mtu.js");
        return detectUplinkMtu(rt.runner, rt.hostNetns);
      });
    const deps = {
      plumbing,
      runner: rt.runner,
      ...(rt.hostNetns ? { hostNetns: rt.hostNetns } : {}),
      hostSysctl: rt.hostSysctl,
      store: getStore,
      ipam: getIpam,
      delegateIpam: rt.delegateIpam,
      node,
      clock: rt.clock,
      lock,
      detectMtu,
      namespacePools: nsPools,
      waitProgrammed:
        rt.waitProgrammed ??
        (async (w: { dir: string; iface: string; addrs: string[]; timeoutMs: number }) => {
          const { waitEndpointProgrammed } = await import("../dataplane/endpoint-status.js");
          return waitEndpointProgrammed(w, rt.clock);
        }),
    };
    if (cenv.command === "ADD") {
      const { formatResult } = await import("./result.js");
      return { exitCode: 0, stdout: json(formatResult(await m.netAdd(conf, cenv, args, deps), conf.cniVersion)) };
    }
    if (cenv.command === "DEL") await m.netDel(conf, cenv, args, deps);
    else await m.netCheck(conf, cenv, args, deps);
    return done;
  } catch (e) {
    return { exitCode: 1, stdout: json(errorJson(e, version)) };
  } finally {
    plumbing?.close();
    await store?.close().catch(() => undefined);
  }
}

/**
 * The network configuration on stdin. Read with blocking reads of fd 0: no stream to set up and no
 * trip through the event loop per chunk (a plugin process is short and has nothing else to do
 * yet). A non-blocking stdin (EAGAIN) falls back to the stream.
 */
async function readStdin(): Promise<string> {
  try {
    if (fstatSync(0).isCharacterDevice() && (await import("node:tty")).isatty(0)) return "";
    return readFileSync(0, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EBADF") return "";
    if (code !== "EAGAIN") throw e;
  }
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** The real runtime: commands through child processes, this process's /proc/sys, the real store. */
export async function defaultRuntime(): Promise<CniRuntime> {
  const [{ ExecRunner }, { ProcSysctl }, { systemClock }, os, { fileLock, DEFAULT_IPAM_LOCK }] = await Promise.all([
    import("../dataplane/exec.js"),
    import("../dataplane/sysctl.js"),
    import("../clock.js"),
    import("node:os"),
    import("./lock.js"),
  ]);
  return {
    async openStore(url) {
      const { openStore, parseDatastoreUrl, resolveDatastoreUrl } = await import("../datastore/open.js");
      const resolved = url ?? resolveDatastoreUrl();
      const parsed = parseDatastoreUrl(resolved);
      if (parsed.kind === "sqlite") {
        // synchronous=NORMAL (WAL): a commit survives the plugin being killed, not a power loss;
        // after a power loss the containers are gone too, and GC releases what a lost DEL held.
        // Each fsync saved is several ms on the ADD path (docs/cni.md "Speed").
        const { SqliteStore } = await import("../datastore/sqlite.js");
        return SqliteStore.open(parsed.path, { synchronous: "normal" });
      }
      return openStore(resolved);
    },
    async openIpam(store) {
      const { Ipam } = await import("../ipam/ipam.js");
      return new Ipam(store);
    },
    // Children get PATH only: nothing else of the runtime's environment concerns `ip` or `nsenter`.
    runner: new ExecRunner({ env: { PATH: process.env.PATH || "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" } }),
    hostSysctl: new ProcSysctl(),
    // Loaded only for another IPAM plugin (it spawns one).
    delegateIpam: async (...a) => (await import("./delegate.js")).execDelegateIpam(...a),
    clock: systemClock,
    hostname: () => os.hostname(),
    ipamLock: fileLock(process.env.TABBY_IPAM_LOCK || DEFAULT_IPAM_LOCK),
  };
}

export async function runCniPlugin(name: PluginName): Promise<number> {
  let out: CniOutcome;
  try {
    const stdin = await readStdin();
    out = env().CNI_COMMAND === "VERSION" ? await dispatchCni(name, stdin, env(), nullRuntime) : await dispatchCni(name, stdin, env(), await defaultRuntime());
  } catch (e) {
    out = { exitCode: 1, stdout: json(errorJson(e, DEFAULT_VERSION)) };
  }
  writeStdout(out.stdout);
  return out.exitCode;
}

/**
 * The answer, with blocking writes to fd 1: `process.stdout` would first load Node's stream
 * machinery (~5 ms of a plugin's start-up) for one write. A non-blocking pipe that is full
 * (EAGAIN) is waited on by retrying.
 */
function writeStdout(text: string): void {
  let buf = Buffer.from(text, "utf8");
  while (buf.length) {
    try {
      buf = buf.subarray(writeSync(1, buf));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EAGAIN") throw e;
    }
  }
}

const env = () => process.env as Record<string, string | undefined>;

/** VERSION touches nothing: no runtime needed. */
const nullRuntime = new Proxy({} as CniRuntime, {
  get() {
    throw new CniError(CNI_ERR.IO_FAILURE, "VERSION needs no runtime");
  },
});
