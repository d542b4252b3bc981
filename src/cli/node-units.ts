/**
 * What `tabby node install` writes on a host, as data (pure): the systemd units of the agent
 * (`tabby-node.service`) and of a standalone speaker (`tabby-bgp@NAME.service`, config
 * /etc/tabby/bgp/NAME.yaml), the environment file, the sysctls and kernel modules tabby needs,
 * and a note on logs. A Debian operator's layout: /etc/default/tabby for settings, units in
 * /etc/systemd/system (the admin's directory, since no .deb owns them), state in /var/lib/tabby,
 * sockets and locks in /run/tabby.
 *
 * Least privilege: the daemons keep uid 0 (the CNI plugins, run as root by the container
 * runtime, share the SQLite datastore and IPAM lock with the agent) but with the capability
 * bounding set cut to what they use — CAP_NET_ADMIN (routes, nftables, sysctls under net.*,
 * TCP-MD5 and IP_MINTTL socket options), CAP_NET_BIND_SERVICE (port 179), CAP_NET_RAW (BFD and
 * GTSM TTL handling, ping-free) — so root's file and process powers (CAP_DAC_OVERRIDE,
 * CAP_SYS_ADMIN, CAP_SYS_MODULE, CAP_KILL...) are gone; and systemd's sandbox: a read-only /usr,
 * /etc and /boot, no home directories, private /tmp, no new privileges.
 */
import { hostSysctls, sysctlName } from "../dataplane/sysctl.js";

export interface InstallFile {
  /** Absolute path on the target host (the root is prefixed when writing). */
  path: string;
  mode: number;
  content: string;
  /** An admin's settings: uninstall keeps it unless --purge (a Debian conffile). */
  conffile?: boolean;
}

export interface UnitOptions {
  /** The Node.js binary the units run (absolute). */
  nodePath: string;
  /** The CLI entry of the installed package (absolute path of dist/src/cli/main.js). */
  cliPath: string;
  /** The installed package's docs directory, for the units' Documentation=. */
  docsDir: string;
  datastore?: string;
  nodename?: string;
  /** Extra `tabby node run` flags (e.g. "--as 64512 --ip 10.0.0.5/24"). */
  nodeArgs?: string;
  version: string;
}

export const UNIT_DIR = "/etc/systemd/system";
export const ENV_FILE = "/etc/default/tabby";
export const BGP_CONFIG_DIR = "/etc/tabby/bgp";
export const SYSCTL_FILE = "/etc/sysctl.d/60-tabby.conf";
export const MODULES_FILE = "/etc/modules-load.d/tabby.conf";
export const LOG_NOTE = "/etc/tabby/README.logs";
/** What install wrote, for uninstall: JSON {version, files: [path...], conffiles: [path...]}. */
export const MANIFEST = "/var/lib/tabby/install-manifest.json";

/** The capabilities the daemons keep (everything else is dropped from the bounding set). */
export const DAEMON_CAPABILITIES = ["CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"];

const sandbox = (writable: string[]) => [
  `CapabilityBoundingSet=${DAEMON_CAPABILITIES.join(" ")}`,
  "NoNewPrivileges=yes",
  "ProtectSystem=strict",
  `ReadWritePaths=${writable.join(" ")}`,
  "ProtectHome=yes",
  "PrivateTmp=yes",
  "ProtectControlGroups=yes",
  "ProtectKernelModules=yes",
  "ProtectClock=yes",
  "ProtectHostname=yes",
  "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK",
  "RestrictNamespaces=yes",
  "RestrictRealtime=yes",
  "RestrictSUIDSGID=yes",
  "LockPersonality=yes",
  "SystemCallArchitectures=native",
  "UMask=0077",
];

function shellWord(s: string): string {
  return /^[A-Za-z0-9_./:@%+,=-]+$/.test(s) ? s : `"${s.replace(/(["\\$`])/g, "\\$1")}"`;
}

export function nodeUnit(o: UnitOptions): string {
  return [
    "# tabby per-host agent, written by `tabby node install` (tabby " + o.version + ").",
    "# Settings: /etc/default/tabby. Logs: journalctl -u tabby-node (see /etc/tabby/README.logs).",
    "# Upgrade without loss: install the new package, then `systemctl restart tabby-node`: the agent",
    "# runs with --graceful-restart and stops on SIGUSR2 (KillSignal): no NOTIFICATION, so peers keep",
    "# this host's routes and the kernel its own, and the new agent takes over from the routes it finds.",
    "# `tabby node uninstall` stops it with SIGTERM instead: a host that leaves tells its peers.",
    "[Unit]",
    "Description=tabby agent: BGP, routes and nftables policy for this host's workloads",
    `Documentation=file://${o.docsDir}/install.md file://${o.docsDir}/node.md`,
    "Wants=network-online.target",
    "After=network-online.target",
    "",
    "[Service]",
    "Type=simple",
    `EnvironmentFile=-${ENV_FILE}`,
    `ExecStart=${o.nodePath} ${o.cliPath} node run --graceful-restart $TABBY_NODE_ARGS`,
    "KillSignal=SIGUSR2",
    "TimeoutStopSec=30",
    "Restart=on-failure",
    "RestartSec=2",
    "RuntimeDirectory=tabby",
    "RuntimeDirectoryPreserve=yes",
    "StateDirectory=tabby",
    "CacheDirectory=tabby", // Node's compile cache (src/cli/compile-cache.ts), writable under ProtectSystem
    ...sandbox(["/var/lib/tabby", "/run/tabby"]),
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

export function bgpUnit(o: UnitOptions): string {
  return [
    "# A standalone tabby BGP speaker (route reflector, route server), one per config:",
    "# tabby-bgp@NAME.service runs /etc/tabby/bgp/NAME.yaml. Give each config its own",
    "# `control: /run/tabby/bgp-NAME.sock`. Reload re-reads the config (SIGHUP).",
    "# Written by `tabby node install` (tabby " + o.version + ").",
    "[Unit]",
    "Description=tabby BGP speaker %i",
    `Documentation=file://${o.docsDir}/install.md file://${o.docsDir}/bgp.md`,
    "Wants=network-online.target",
    "After=network-online.target",
    `ConditionPathExists=${BGP_CONFIG_DIR}/%i.yaml`,
    "",
    "[Service]",
    "Type=simple",
    `ExecStart=${o.nodePath} ${o.cliPath} bgp run -c ${BGP_CONFIG_DIR}/%i.yaml`,
    "ExecReload=/bin/kill -HUP $MAINPID",
    "Restart=on-failure",
    "RestartSec=2",
    "RuntimeDirectory=tabby",
    "RuntimeDirectoryPreserve=yes",
    "CacheDirectory=tabby",
    ...sandbox(["/run/tabby"]),
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

export function envFile(o: UnitOptions): string {
  const line = (k: string, v: string | undefined, example: string) => (v !== undefined ? `${k}=${shellWord(v)}` : `#${k}=${example}`);
  return [
    "# tabby settings for this host, read by tabby-node.service (and by `tabby` commands run from",
    "# a shell that sources it). Written by `tabby node install`; uninstall keeps it (--purge removes it).",
    "",
    "# The datastore: etcd://host:2379,host:2379 or etcds://...?ca=&cert=&key= for a fleet;",
    "# sqlite:///var/lib/tabby/tabby.db (the default) for a single host.",
    line("TABBY_DATASTORE", o.datastore, "etcds://10.0.0.10:2379?ca=/etc/tabby/pki/ca.crt&cert=/etc/tabby/pki/node.crt&key=/etc/tabby/pki/node.key"),
    "# This host's Node name (default: the hostname).",
    line("TABBY_NODENAME", o.nodename, "node-1"),
    "# More `tabby node run` flags: --ip ADDR/LEN, --ip6, --as N, --ipv4-pool, --log-level ...",
    `TABBY_NODE_ARGS=${shellWord(o.nodeArgs ?? "")}`,
    "",
  ].join("\n");
}

/** Forwarding on (tabby routes between workloads and the fabric). Pure. */
export function sysctlConf(): string {
  const lines = hostSysctls({ v4: true, v6: true }).map((s) => `${sysctlName(s.path)} = ${s.value}`);
  return ["# tabby: this host forwards between its workloads and the fabric. Written by `tabby node install`.", ...lines, ""].join("\n");
}

export function modulesConf(): string {
  return ["# tabby: nftables (policy) and veth (workload interfaces). Written by `tabby node install`.", "nf_tables", "veth", ""].join("\n");
}

export function logNote(): string {
  return [
    "tabby logs",
    "==========",
    "tabby-node and tabby-bgp@NAME log to standard error, which systemd hands to the journal",
    "(one JSON object a line for the agent):",
    "",
    "    journalctl -u tabby-node -f",
    "    journalctl -u 'tabby-bgp@*' --since today",
    "",
    "The journal rotates by itself (SystemMaxUse= in /etc/systemd/journald.conf); tabby writes no",
    "log files, so no logrotate configuration is needed. For a host without persistent journal",
    "(/var/log/journal absent), logs are lost at reboot: mkdir /var/log/journal to keep them.",
    "",
  ].join("\n");
}

/** Every file install writes (CNI plugins aside), in write order. Pure. */
export function installFiles(o: UnitOptions): InstallFile[] {
  return [
    { path: `${UNIT_DIR}/tabby-node.service`, mode: 0o644, content: nodeUnit(o) },
    { path: `${UNIT_DIR}/tabby-bgp@.service`, mode: 0o644, content: bgpUnit(o) },
    { path: ENV_FILE, mode: 0o640, content: envFile(o), conffile: true },
    { path: SYSCTL_FILE, mode: 0o644, content: sysctlConf() },
    { path: MODULES_FILE, mode: 0o644, content: modulesConf() },
    { path: LOG_NOTE, mode: 0o644, content: logNote() },
  ];
}
