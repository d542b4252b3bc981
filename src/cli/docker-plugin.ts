/**
 * `tabby docker-plugin`: serves Docker's remote network driver and remote IPAM driver
 * (src/docker/driver.ts) on `<plugin-dir>/<name>.sock`, where dockerd discovers it:
 *   --plugin-dir DIR     default /run/docker/plugins
 *   --name NAME          driver name (`docker network create -d NAME --ipam-driver NAME`), default tabby
 *   --datastore URL      (env TABBY_DATASTORE)
 *   --nodename NAME      this host's node name (env TABBY_NODENAME, else the hostname)
 *   --docker-host URL    the engine API for containers' and networks' labels
 *                        (default unix:///var/run/docker.sock; `none`: endpoints carry no container labels)
 *   --label-only PREFIX  keep only the container's labels with this prefix (repeatable), then:
 *   --label-map FROM=TO  rename a label prefix (repeatable; `FROM=` strips it), as the CNI config's labels.map
 *   --label-drop PREFIX  drop labels with this prefix (repeatable; labels.map's null)
 *   --endpoint-status-dir DIR  the agent's endpoint status (default /run/tabby/endpoint-status)
 *   --policy-setup-timeout SECONDS  how long to wait for the agent after writing an endpoint (10)
 *   --log-level debug|info|warn|error
 * Runs until SIGTERM/SIGINT; removes its socket on the way out.
 */
import { parseCommandLine } from "./parse.js";
import { hostname } from "node:os";
import { join } from "node:path";
import { rm } from "node:fs/promises";
import type { CliIO } from "./command.js";
import { UsageError } from "./command.js";
import { jsonLogger, type Level } from "../agent/log.js";
import { openStoreFromArgs } from "./datastore-flag.js";
import { Ipam } from "../ipam/ipam.js";
import { ProcSysctl } from "../dataplane/sysctl.js";
import { systemClock } from "../clock.js";
import { NetlinkPlumbing } from "../cni/plumbing.js";
import { DEFAULT_IPAM_LOCK, fileLock } from "../cni/lock.js";
import { waitEndpointProgrammed } from "../dataplane/endpoint-status.js";
import { DockerDriver } from "../docker/driver.js";
import { EngineClient } from "../docker/engine.js";
import { servePlugin } from "../docker/server.js";

export const USAGE =
  "tabby docker-plugin [--plugin-dir DIR] [--name NAME] [--datastore URL] [--nodename NAME] [--docker-host unix://PATH|none] [--label-only PREFIX]... [--label-map FROM=TO]... [--label-drop PREFIX]... [--endpoint-status-dir DIR] [--policy-setup-timeout SECONDS] [--log-level LEVEL]";

export async function run(argv: string[], io: CliIO): Promise<number> {
  const parsed = parseCommandLine("docker-plugin", argv, io);
  if (!parsed) return 0;
  const { values } = parsed;
  const level = values["log-level"] as Level;
  if (!["debug", "info", "warn", "error"].includes(level)) throw new UsageError("--log-level must be debug, info, warn or error");
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(values.name!)) throw new UsageError(`--name ${JSON.stringify(values.name)} is not a plugin name`);
  const map: Record<string, string | null> = {};
  for (const m of values["label-map"] ?? []) {
    const eq = m.indexOf("=");
    if (eq <= 0) throw new UsageError(`--label-map takes FROM=TO, got ${JSON.stringify(m)}`);
    map[m.slice(0, eq)] = m.slice(eq + 1);
  }
  for (const d of values["label-drop"] ?? []) {
    if (!d) throw new UsageError("--label-drop takes a prefix");
    map[d] = null;
  }
  const only = values["label-only"];
  const timeout = Number(values["policy-setup-timeout"]);
  if (!(timeout >= 0)) throw new UsageError(`--policy-setup-timeout takes seconds, got ${JSON.stringify(values["policy-setup-timeout"])}`);
  const dockerHost = values["docker-host"]!;
  if (dockerHost !== "none" && !dockerHost.startsWith("unix://"))
    throw new UsageError(`--docker-host must be unix://PATH or none, got ${JSON.stringify(dockerHost)}`);
  const node = values.nodename ?? io.env["TABBY_NODENAME"] ?? hostname();
  const log = jsonLogger(level, io.stderr, { component: "docker-plugin", node });

  const store = await openStoreFromArgs(values.datastore, io.env);
  const statusDir = values["endpoint-status-dir"]!;
  const driver = new DockerDriver({
    store,
    ipam: new Ipam(store),
    plumbing: await NetlinkPlumbing.create(),
    hostSysctl: new ProcSysctl(),
    hostNetnsPath: "/proc/self/ns/net",
    node,
    clock: systemClock,
    ...(dockerHost !== "none" ? { engine: new EngineClient(dockerHost.slice("unix://".length)) } : {}),
    labelRules: { map, ...(only?.length ? { only } : {}) },
    ...(timeout > 0
      ? { waitProgrammed: (w: { iface: string; addrs: string[] }) => waitEndpointProgrammed({ dir: statusDir, ...w, timeoutMs: timeout * 1000 }, systemClock) }
      : {}),
    log: (lvl, msg, f) => log(lvl as Level, msg, f),
    lock: fileLock(io.env["TABBY_IPAM_LOCK"] || DEFAULT_IPAM_LOCK),
  });
  const socket = join(values["plugin-dir"]!, `${values.name}.sock`);
  const server = await servePlugin(
    socket,
    (p, b) => driver.handle(p, b),
    (lvl, msg, f) => log(lvl as Level, msg, f),
  );
  log("info", "serving Docker's network and IPAM driver API", { socket });
  await new Promise<void>((resolve) => {
    process.once("SIGTERM", () => resolve());
    process.once("SIGINT", () => resolve());
  });
  server.close();
  await rm(socket, { force: true });
  await store.close();
  return 0;
}
