/**
 * `tabby node check [--datastore URL] [--conf-dir DIR] [--port N]`: preflight before running
 * the agent on a host, as `calicoctl node checksystem`: the Node.js runtime, the kernel's
 * nftables and veth support, the tools (nft, ip with JSON output), forwarding sysctls, the clock's
 * synchronisation, the datastore (reachable, and a schema this tabby may run against), other CNI
 * configurations that would win over tabby's, and the BGP port. Each finding is `ok`, `warn`
 * (works, but not as an operator would want) or `FAIL` with how to fix it; the exit code is 1
 * when any check fails.
 * The checks take their view of the host as an injected HostProbe (fakes in tests); the
 * verdicts (the `judge*` functions) are pure.
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { createServer } from "node:net";
import { parseCommandLine } from "./parse.js";
import type { CliIO } from "./command.js";
import { UsageError } from "./command.js";
import { ExecRunner } from "../dataplane/exec.js";
import { CONFLIST_NAME } from "./cni-install.js";
import { decideSchema, SCHEMA_KEY, SCHEMA_MIN_READER, SCHEMA_VERSION } from "../datastore/schema.js";
import { tabbyVersion } from "../version.js";
import { hasCode, type TabbyError } from "../errors.js";
import { agentAnswers } from "./node-cleanup.js";

export type Verdict = "ok" | "warn" | "FAIL";
export interface Finding {
  check: string;
  verdict: Verdict;
  detail: string;
  /** How to fix it (warn and FAIL). */
  fix?: string;
}

/** The host as the checks see it. */
export interface HostProbe {
  nodeVersion: string;
  run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  readFile(path: string): string | undefined;
  listDir(path: string): string[] | undefined;
  /** Tries to listen on the port: undefined when it could, else the error code. */
  tryListen(port: number): Promise<string | undefined>;
  agentRunning(): Promise<boolean>;
  /** The datastore's schema record (undefined: none yet); throws when unreachable. */
  readSchema(): Promise<{ value: string; revision: number } | undefined>;
}

const ok = (check: string, detail: string): Finding => ({ check, verdict: "ok", detail });
const bad = (check: string, verdict: "warn" | "FAIL", detail: string, fix: string): Finding => ({ check, verdict, detail, fix });

/** Node.js: a maintained LTS line (package.json engines). Pure. */
export function judgeNode(version: string): Finding {
  const major = Number(/^v?(\d+)/.exec(version)?.[1] ?? 0);
  if (major === 22 || major === 24) return ok("node", `Node.js ${version}`);
  if (major > 24)
    return bad("node", "warn", `Node.js ${version} is newer than the lines tabby is tested on (22, 24)`, "install Node.js 24 LTS (scripts/install-node.sh)");
  return bad(
    "node",
    "FAIL",
    `Node.js ${version} is out of maintenance; tabby needs 22 or 24`,
    "install Node.js 24 LTS (scripts/install-node.sh), then reinstall tabby with it",
  );
}

/** nft's version from `nft --version` ("nftables v1.0.6 (Lester Gooch #5)"). Pure. */
export function judgeNft(code: number, stdout: string): Finding {
  if (code !== 0) return bad("nft", "FAIL", "nft is not installed", "apt-get install nftables");
  const m = /v(\d+)\.(\d+)\.(\d+)/.exec(stdout);
  if (!m) return bad("nft", "warn", `cannot read nft's version from "${stdout.trim()}"`, "apt-get install nftables (1.0 or newer)");
  const [maj, min, pat] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (maj === 0 && (min < 9 || (min === 9 && pat < 3)))
    return bad("nft", "FAIL", `nft ${m[0]} is too old (JSON output and inet tables need 0.9.3)`, "upgrade nftables (Debian 11 or newer ships 0.9.8+)");
  return ok("nft", `nft ${m[0]}`);
}

/** A forwarding sysctl's value. Pure. */
export function judgeSysctl(name: string, value: string | undefined): Finding {
  if (value === undefined) return bad(`sysctl ${name}`, "warn", `${name} cannot be read`, "check that the kernel has the family enabled");
  if (value.trim() === "1") return ok(`sysctl ${name}`, `${name} = 1`);
  return bad(
    `sysctl ${name}`,
    "warn",
    `${name} = ${value.trim()} (the agent sets it to 1 at start)`,
    `sysctl --system (tabby node install wrote /etc/sysctl.d/60-tabby.conf) or sysctl -w ${name}=1`,
  );
}

/** Other CNI configurations: a runtime takes the first file by name. Pure. */
export function judgeCni(confDir: string, files: string[] | undefined): Finding {
  const confs = (files ?? []).filter((f) => /\.(conflist|conf|json)$/.test(f)).sort();
  if (confs.length === 0) return bad("cni", "warn", `no CNI configuration in ${confDir}`, `tabby cni install --conf-dir ${confDir} (or tabby node install)`);
  if (!confs.includes(CONFLIST_NAME)) {
    return bad(
      "cni",
      "FAIL",
      `no ${CONFLIST_NAME} in ${confDir}; a runtime uses ${confs[0]}`,
      `tabby cni install --conf-dir ${confDir}, and move ${confs.join(", ")} away`,
    );
  }
  if (confs[0] !== CONFLIST_NAME) {
    return bad("cni", "FAIL", `${confs[0]} in ${confDir} sorts before ${CONFLIST_NAME}: a runtime uses it, not tabby`, `move ${confDir}/${confs[0]} away`);
  }
  const others = confs.slice(1);
  return others.length
    ? bad("cni", "warn", `${CONFLIST_NAME} is used; ${others.join(", ")} are ignored by runtimes`, `remove the unused configurations from ${confDir}`)
    : ok("cni", `${confDir}/${CONFLIST_NAME} is the only configuration`);
}

/** The BGP port. Pure. */
export function judgePort(port: number, listenError: string | undefined, agentRunning: boolean): Finding {
  if (listenError === undefined) return ok("bgp port", `port ${port} is free`);
  if (listenError === "EADDRINUSE") {
    if (agentRunning) return ok("bgp port", `port ${port} is held by the running tabby agent`);
    return bad(
      "bgp port",
      "FAIL",
      `another program listens on port ${port}`,
      `find it with \`ss -ltnp 'sport = :${port}'\` (bird, frr bgpd?) and stop it, or run the agent with --listen-port`,
    );
  }
  if (listenError === "EACCES")
    return bad("bgp port", "warn", `cannot bind port ${port} as this user`, "run the check as root (the unit keeps CAP_NET_BIND_SERVICE)");
  return bad("bgp port", "warn", `cannot test port ${port}: ${listenError}`, "check the host's addresses");
}

/** The datastore's schema record against this tabby's. Pure. */
export function judgeSchema(stored: { value: string; revision: number } | undefined): Finding {
  try {
    const d = decideSchema(stored, { version: SCHEMA_VERSION, minReader: SCHEMA_MIN_READER, tabby: tabbyVersion() });
    return ok(
      "datastore",
      stored
        ? `reachable; schema ${JSON.parse(stored.value).version} (${d.action === "keep" ? "compatible" : "this tabby will record schema " + SCHEMA_VERSION})`
        : "reachable; empty (the first agent records the schema)",
    );
  } catch (e) {
    return bad("datastore", "FAIL", (e as Error).message, "upgrade tabby on this host to the version the rest of the fleet runs");
  }
}

export async function runChecks(p: HostProbe, opts: { confDir: string; port: number }): Promise<Finding[]> {
  const out: Finding[] = [judgeNode(p.nodeVersion)];
  const kernel = (await p.run("uname", ["-r"])).stdout.trim();
  const [kmaj, kmin] = kernel.split(".").map(Number) as [number, number];
  out.push(
    kmaj > 5 || (kmaj === 5 && kmin >= 4)
      ? ok("kernel", `Linux ${kernel}`)
      : bad("kernel", "warn", `Linux ${kernel} is older than 5.4, the oldest tabby is tested on`, "upgrade the kernel (Debian 11 or newer)"),
  );
  const nftv = await p.run("nft", ["--version"]);
  out.push(judgeNft(nftv.code, nftv.stdout));
  if (nftv.code === 0) {
    const t = await p.run("nft", ["list", "tables"]);
    out.push(
      t.code === 0
        ? ok("nftables", "the kernel answers nftables requests")
        : bad("nftables", "FAIL", `nft list tables: ${t.stderr.trim()}`, "run as root; load the nf_tables module (modprobe nf_tables)"),
    );
  }
  const ipj = await p.run("ip", ["-j", "link", "show", "lo"]);
  out.push(
    ipj.code === 0 && ipj.stdout.trim().startsWith("[")
      ? ok("iproute2", "ip speaks JSON")
      : bad("iproute2", "FAIL", "ip -j does not work", "apt-get install iproute2"),
  );
  const builtin = p.readFile(`/lib/modules/${kernel}/modules.builtin`) ?? "";
  const nftWorks = out.some((f) => f.check === "nftables" && f.verdict === "ok");
  for (const mod of ["nf_tables", "veth"]) {
    const loaded = p.listDir(`/sys/module/${mod}`) !== undefined || new RegExp(`/${mod}\\.ko`).test(builtin) || (mod === "nf_tables" && nftWorks);
    out.push(
      loaded
        ? ok(`module ${mod}`, `${mod} is loaded or built in`)
        : bad(
            `module ${mod}`,
            "warn",
            `${mod} is not loaded yet (a built-in module without parameters cannot be told apart)`,
            `modprobe ${mod} (tabby node install lists it in /etc/modules-load.d/tabby.conf)`,
          ),
    );
  }
  out.push(judgeSysctl("net.ipv4.ip_forward", p.readFile("/proc/sys/net/ipv4/ip_forward")));
  out.push(judgeSysctl("net.ipv6.conf.all.forwarding", p.readFile("/proc/sys/net/ipv6/conf/all/forwarding")));
  const td = await p.run("timedatectl", ["show", "-p", "NTPSynchronized", "--value"]);
  if (td.code === 0 && td.stdout.trim() === "yes") out.push(ok("clock", "synchronised (NTP)"));
  else if (td.code === 0)
    out.push(
      bad(
        "clock",
        "warn",
        "the clock is not synchronised: leases, certificates and logs need it",
        "enable NTP: apt-get install systemd-timesyncd (or chrony); timedatectl set-ntp true",
      ),
    );
  else
    out.push(
      bad("clock", "warn", "cannot tell whether the clock is synchronised (no timedatectl)", "make sure an NTP client (chrony, systemd-timesyncd) runs"),
    );
  try {
    out.push(judgeSchema(await p.readSchema()));
  } catch (e) {
    // a preflight never creates the database: a SQLite file not there yet is the agent's to make
    if (hasCode(e, "DS_NO_DATABASE"))
      out.push(ok("datastore", `${String((e as TabbyError).details?.["path"] ?? "the SQLite file")} does not exist yet (tabby node run creates it)`));
    else
      out.push(
        bad(
          "datastore",
          "FAIL",
          `cannot reach the datastore: ${(e as Error).message}`,
          "check TABBY_DATASTORE in /etc/default/tabby, the network path and the certificates; `tabby get nodes` shows the same error",
        ),
      );
  }
  out.push(judgeCni(opts.confDir, p.listDir(opts.confDir)));
  out.push(judgePort(opts.port, await p.tryListen(opts.port), await p.agentRunning()));
  return out;
}

/** The printed report. Pure. */
export function formatFindings(fs: Finding[]): string {
  return fs.map((f) => `${f.verdict.padEnd(4)} ${f.check.padEnd(37)} ${f.detail}${f.fix ? `\n     fix: ${f.fix}` : ""}`).join("\n") + "\n";
}

export async function run(argv: string[], io: CliIO): Promise<number> {
  const parsed = parseCommandLine("node check", argv, io);
  if (!parsed) return 0;
  const { values } = parsed;
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`--port takes a port number, got "${values.port}"`);
  const runner = new ExecRunner();
  const control = values.control ?? io.env["TABBY_CONTROL"] ?? "/run/tabby/node.sock";
  const probe: HostProbe = {
    nodeVersion: process.version,
    run: async (cmd, args) => {
      try {
        return await runner.run(cmd, args);
      } catch (e) {
        return { code: 127, stdout: "", stderr: (e as Error).message };
      }
    },
    readFile: (path) => {
      try {
        return readFileSync(path, "utf8");
      } catch {
        return undefined;
      }
    },
    listDir: (path) => (existsSync(path) ? readdirSync(path) : undefined),
    tryListen: (p) =>
      new Promise((resolve) => {
        const s = createServer();
        s.once("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? String(e)));
        s.listen({ port: p, host: "::", ipv6Only: false }, () => s.close(() => resolve(undefined)));
      }),
    agentRunning: () => agentAnswers(control),
    readSchema: async () => {
      const { openStoreFromArgs } = await import("./datastore-flag.js");
      const store = await withTimeout(openStoreFromArgs(values.datastore, io.env), 5000);
      try {
        const kv = await withTimeout(store.get(SCHEMA_KEY), 5000);
        return kv ? { value: kv.value, revision: kv.revision } : undefined;
      } finally {
        await store.close().catch(() => {});
      }
    },
  };
  const findings = await runChecks(probe, { confDir: values["conf-dir"], port });
  io.stdout.write(formatFindings(findings));
  const failed = findings.filter((f) => f.verdict === "FAIL").length;
  io.stdout.write(failed ? `${failed} check(s) failed\n` : "ready to run tabby\n");
  return failed ? 1 : 0;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms);
    }),
  ]);
}
