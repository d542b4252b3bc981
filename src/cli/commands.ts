/**
 * The command tree of `tabby`: every command's words, module, arguments and options, as data.
 * main.ts builds one commander program from it (routing, --help, --version, usage errors), each
 * command module parses its own argv with the same entry (parse.ts), and `tabby completion`
 * generates the shell scripts from it (completion.ts). Nothing here does I/O or loads a command.
 *
 * Options are declared like node:util parseArgs options (type, short, multiple, default) plus the
 * help text, so parse.ts can type each command's values from its entry.
 *
 * Adding a command or an option: add it here (main.ts refuses what is not here: an unknown
 * command or option is a usage error), and in the module call
 * `parseCommandLine("WORDS", argv, io)` (parse.ts). cli.test.ts fails for a module with a `run`
 * that is not in the tree, or one that parses with node:util parseArgs.
 */

export interface OptionSpec {
  readonly type: "string" | "boolean";
  readonly short?: string;
  readonly multiple?: boolean;
  readonly default?: string | boolean;
  /** The value's name in help, e.g. FILE. */
  readonly arg?: string;
  readonly help: string;
  /** The values completion offers (the command itself validates). */
  readonly choices?: readonly string[];
  /** Hidden from help and completion (kept so old scripts keep working). */
  readonly hidden?: boolean;
}

export interface ArgSpec {
  readonly name: string;
  readonly help: string;
  readonly variadic?: boolean;
  /** Completion offers resource kinds here. */
  readonly kinds?: boolean;
}

export interface CommandSpec {
  readonly summary: string;
  /** Module under src/cli/ (relative to this file) exporting `run(argv, io)`. */
  readonly module: string;
  readonly args?: readonly ArgSpec[];
  readonly options: Readonly<Record<string, OptionSpec>>;
  /** Usage line after "tabby WORDS " (default: from the arguments). */
  readonly usage?: string;
  /** A resource verb: help lists the kinds and their aliases. */
  readonly kinds?: boolean;
  /** Whether the command reads or writes the datastore: a read never creates a database. */
  readonly datastore?: "read" | "write";
  /** Options after the first argument belong to it (lab exec NAME -- CMD -x). */
  readonly passThrough?: boolean;
}

const DATASTORE = {
  datastore: {
    type: "string",
    arg: "URL",
    help: "the datastore (sqlite:///path, etcd://host:port, etcds://...); default: $TABBY_DATASTORE, the config file, the running lab, sqlite:///var/lib/tabby/tabby.db",
  },
} as const;
const NAMESPACE = { namespace: { type: "string", short: "n", arg: "NAMESPACE", help: "namespace of namespaced kinds (default: default)" } } as const;
const FILES = {
  filename: { type: "string", short: "f", multiple: true, arg: "FILE", help: "a YAML or JSON file of resources, - for stdin (repeatable)" },
} as const;
const LAB = { name: { type: "string", arg: "LAB", help: "the lab (default: the running one)" } } as const;
const CONTROL = { control: { type: "string", arg: "SOCK", help: "the agent's control socket (default: $TABBY_CONTROL, else /run/tabby/node.sock)" } } as const;
const SPEAKER = {
  control: { type: "string", arg: "SOCK", help: "the speaker's control socket (default /run/tabby/bgp.sock)" },
  output: { type: "string", short: "o", arg: "FORMAT", help: "table or json", choices: ["table", "json"] },
} as const;
const FAMILY = { family: { type: "string", arg: "FAMILY", help: "ipv4 or ipv6", choices: ["ipv4", "ipv6"] } } as const;
const LOG_LEVEL = {
  "log-level": { type: "string", default: "info", arg: "LEVEL", help: "debug, info, warn or error", choices: ["debug", "info", "warn", "error"] },
} as const;
const KIND_ARG = { name: "KIND", help: "resource kind (see Kinds below)", kinds: true } as const;

export const COMMANDS = {
  apply: {
    summary: "create or update resources from -f FILE (YAML or JSON)",
    module: "./apply.js",
    kinds: true,
    datastore: "write",
    usage: "-f FILE [-f FILE...] [-n NAMESPACE] [--datastore URL]",
    options: { ...FILES, ...NAMESPACE, ...DATASTORE },
  },
  create: {
    summary: "create resources from -f FILE; fails if one exists",
    module: "./create.js",
    kinds: true,
    datastore: "write",
    usage: "-f FILE [-f FILE...] [-n NAMESPACE] [--datastore URL]",
    options: { ...FILES, ...NAMESPACE, ...DATASTORE },
  },
  replace: {
    summary: "update resources from -f FILE; fails if one does not exist",
    module: "./replace.js",
    kinds: true,
    datastore: "read",
    usage: "-f FILE [-f FILE...] [-n NAMESPACE] [--datastore URL]",
    options: { ...FILES, ...NAMESPACE, ...DATASTORE },
  },
  get: {
    summary: "list or show resources: get KIND [NAME] [-o yaml|json|wide]",
    module: "./get.js",
    kinds: true,
    datastore: "read",
    args: [KIND_ARG, { name: "NAME", help: "resource names (default: all)", variadic: true }],
    options: {
      ...NAMESPACE,
      "all-namespaces": { type: "boolean", short: "A", help: "every namespace" },
      output: { type: "string", short: "o", arg: "FORMAT", help: "table (default), wide, yaml or json", choices: ["table", "wide", "yaml", "json"] },
      ...DATASTORE,
    },
  },
  delete: {
    summary: "delete resources: delete KIND NAME | -f FILE",
    module: "./delete.js",
    kinds: true,
    datastore: "read",
    usage: "KIND NAME [NAME...] [-n NAMESPACE] | -f FILE [--skip-not-exists] [--datastore URL]",
    args: [KIND_ARG, { name: "NAME", help: "resource names", variadic: true }],
    options: { ...FILES, ...NAMESPACE, "skip-not-exists": { type: "boolean", help: "a resource that does not exist is not an error" }, ...DATASTORE },
  },
  patch: {
    summary: "patch one resource: patch KIND NAME -p JSON-MERGE-PATCH",
    module: "./patch.js",
    kinds: true,
    datastore: "read",
    args: [KIND_ARG, { name: "NAME", help: "the resource" }],
    options: {
      patch: { type: "string", short: "p", arg: "PATCH", help: 'a JSON merge patch (RFC 7386), e.g. \'{"spec":{"disabled":true}}\'' },
      ...NAMESPACE,
      ...DATASTORE,
    },
  },
  label: {
    summary: "set or remove labels: label KIND NAME k=v [k-] [--overwrite]",
    module: "./label.js",
    kinds: true,
    datastore: "read",
    args: [KIND_ARG, { name: "NAME", help: "the resource" }, { name: "LABEL", help: "KEY=VALUE sets, KEY- removes (KEY with --remove)", variadic: true }],
    options: {
      overwrite: { type: "boolean", help: "change a label that has another value" },
      remove: { type: "boolean", help: "remove the labels named KEY" },
      ...NAMESPACE,
      ...DATASTORE,
    },
  },
  "datastore export": {
    summary: "write every resource and IPAM key to -o FILE",
    module: "./datastore-export.js",
    datastore: "read",
    options: {
      output: { type: "string", short: "o", arg: "FILE", help: "the file to write (default: stdout)" },
      format: { type: "string", arg: "FORMAT", help: "yaml or json (default: from the file name, else yaml)", choices: ["yaml", "json"] },
      ...DATASTORE,
    },
  },
  "datastore import": {
    summary: "load an export into an empty datastore: import -f FILE",
    module: "./datastore-import.js",
    datastore: "write",
    options: {
      filename: { type: "string", short: "f", arg: "FILE", help: "the export to load, - for stdin" },
      force: { type: "boolean", help: "import into a datastore that is not empty (overwrites)" },
      ...DATASTORE,
    },
  },
  "node run": {
    summary: "run the per-host agent",
    module: "./node-run.js",
    datastore: "write",
    options: {
      name: { type: "string", arg: "NAME", help: "this node's name (default: $TABBY_NODENAME, else the host name)" },
      ip: { type: "string", default: "autodetect", arg: "ADDR", help: "this node's IPv4 address/prefix, autodetect or none" },
      ip6: { type: "string", default: "autodetect", arg: "ADDR", help: "this node's IPv6 address/prefix, autodetect or none" },
      as: { type: "string", arg: "ASN", help: "this node's AS number" },
      "ipv4-pool": { type: "string", default: "192.168.0.0/16", arg: "CIDR", help: "the default IPv4 pool created when there is none" },
      "ipv6-pool": { type: "string", arg: "CIDR", help: "the default IPv6 pool created when there is none" },
      control: { type: "string", arg: "SOCK", help: "the control socket (default /run/tabby/node.sock)" },
      "secrets-dir": { type: "string", arg: "DIR", help: "where BGP passwords referenced by secretKeyRef are read" },
      "hold-time": { type: "string", arg: "SECONDS", help: "BGP hold time" },
      ...DATASTORE,
      ...LOG_LEVEL,
      "graceful-restart": { type: "boolean", help: "graceful restart (RFC 4724) on (the default)" },
      "no-graceful-restart": { type: "boolean", help: "graceful restart off" },
      "bfd-min-rx": { type: "string", arg: "MS", help: "BFD receive interval" },
      "bfd-min-tx": { type: "string", arg: "MS", help: "BFD transmit interval" },
      "bfd-multiplier": { type: "string", arg: "N", help: "BFD detection multiplier" },
      "no-bfd": { type: "boolean", help: "no BFD for any peer" },
      "ipam-gc-grace": { type: "string", arg: "DURATION", help: "how long an address without a workload is kept before it is released" },
      "ipam-gc-interval": { type: "string", arg: "DURATION", help: "how often leaked addresses are looked for" },
      "endpoint-status-dir": { type: "string", arg: "DIR", help: "where endpoint status files are written" },
      "explain-listen": { type: "string", arg: "ADDR:PORT", help: "serve the explain API (mutual TLS) here" },
      "explain-tls-ca": { type: "string", arg: "FILE", help: "CA of the explain API's clients" },
      "explain-tls-cert": { type: "string", arg: "FILE", help: "the explain API's certificate" },
      "explain-tls-key": { type: "string", arg: "FILE", help: "the explain API's key" },
    },
  },
  "node install": {
    summary: "write systemd units, env file, CNI plugins, sysctls",
    module: "./node-install.js",
    options: {
      root: { type: "string", default: "/", arg: "DIR", help: "install under this root" },
      "dry-run": { type: "boolean", default: false, help: "say what would be written, write nothing" },
      ...DATASTORE,
      nodename: { type: "string", arg: "NAME", help: "the node name for the env file" },
      "node-args": { type: "string", arg: "FLAGS", help: "extra flags for tabby node run" },
      "no-cni": { type: "boolean", default: false, help: "do not install the CNI plugins" },
      "bin-dir": { type: "string", default: "/opt/cni/bin", arg: "DIR", help: "CNI plugin directory" },
      "conf-dir": { type: "string", default: "/etc/cni/net.d", arg: "DIR", help: "CNI config directory" },
    },
  },
  "node uninstall": {
    summary: "remove what node install wrote and clean the dataplane",
    module: "./node-uninstall.js",
    options: {
      root: { type: "string", default: "/", arg: "DIR", help: "the root node install wrote under" },
      "dry-run": { type: "boolean", default: false, help: "say what would be removed, remove nothing" },
      purge: { type: "boolean", default: false, help: "also remove /etc/default/tabby, the local datastore file and /etc/tabby/bgp" },
      "keep-dataplane": { type: "boolean", default: false, help: "leave routes, nft table and interfaces" },
    },
  },
  "node cleanup": {
    summary: "remove tabby's routes, nft table and interfaces from this host",
    module: "./node-cleanup.js",
    options: {
      netns: { type: "string", arg: "NS", help: "clean this network namespace instead" },
      force: { type: "boolean", default: false, help: "even if an agent answers" },
      "dry-run": { type: "boolean", default: false, help: "say what would be removed, remove nothing" },
      ...CONTROL,
    },
  },
  "node check": {
    summary: "preflight: kernel, sysctls, nft, clock, datastore, CNI, port 179",
    module: "./node-check.js",
    datastore: "read",
    options: {
      ...DATASTORE,
      "conf-dir": { type: "string", default: "/etc/cni/net.d", arg: "DIR", help: "CNI config directory" },
      port: { type: "string", default: "179", arg: "PORT", help: "the BGP port to check" },
      ...CONTROL,
    },
  },
  "node status": {
    summary: "this host's BGP peers and their state",
    module: "./node-status.js",
    options: { ...CONTROL, output: { type: "string", short: "o", arg: "FORMAT", help: "json", choices: ["json"] } },
  },
  "docker-plugin": {
    summary: "serve Docker's network and IPAM driver API (docs/docker.md)",
    module: "./docker-plugin.js",
    datastore: "write",
    options: {
      "plugin-dir": { type: "string", default: "/run/docker/plugins", arg: "DIR", help: "where the plugin's socket is made" },
      name: { type: "string", default: "tabby", arg: "NAME", help: "the plugin's name" },
      ...DATASTORE,
      nodename: { type: "string", arg: "NAME", help: "this node's name" },
      "docker-host": { type: "string", default: "unix:///var/run/docker.sock", arg: "URL", help: "unix://PATH or none" },
      "label-map": { type: "string", multiple: true, arg: "FROM=TO", help: "rename a container label prefix (repeatable)" },
      "label-only": { type: "string", multiple: true, arg: "PREFIX", help: "keep only labels with this prefix (repeatable)" },
      "label-drop": { type: "string", multiple: true, arg: "PREFIX", help: "drop labels with this prefix (repeatable)" },
      "endpoint-status-dir": { type: "string", default: "/run/tabby/endpoint-status", arg: "DIR", help: "where the agent writes endpoint status" },
      "policy-setup-timeout": { type: "string", default: "10", arg: "SECONDS", help: "wait this long for policy before a container starts" },
      ...LOG_LEVEL,
    },
  },
  "bgp run": {
    summary: "run a standalone BGP speaker from a YAML config",
    module: "./bgp-run.js",
    usage: "-c FILE [-v] [-R]",
    options: {
      config: { type: "string", short: "c", arg: "FILE", help: "the speaker's YAML config (docs/bgp.md)" },
      verbose: { type: "boolean", short: "v", help: "debug logging" },
      restarting: { type: "boolean", short: "R", help: "start as a graceful restart (needs gracefulRestart)" },
    },
  },
  "bgp peers": { summary: "list a speaker's peers", module: "./bgp-peers.js", options: { ...SPEAKER } },
  "bgp routes": { summary: "list a speaker's Loc-RIB", module: "./bgp-routes.js", options: { ...SPEAKER, ...FAMILY } },
  "bgp bfd": { summary: "list a speaker's BFD sessions", module: "./bgp-bfd.js", options: { ...SPEAKER } },
  "bgp refresh": {
    summary: "ask a speaker's peers to re-send their routes (route refresh)",
    module: "./bgp-refresh.js",
    options: { ...SPEAKER, peer: { type: "string", arg: "ADDR", help: "only this peer (default: all)" }, ...FAMILY },
  },
  "ipam show": {
    summary: "show IP pools, blocks and usage",
    module: "./ipam-show.js",
    datastore: "read",
    options: {
      "show-blocks": { type: "boolean", help: "list every block" },
      output: { type: "string", short: "o", arg: "FORMAT", help: "table or json", choices: ["table", "json"] },
      ...DATASTORE,
    },
  },
  "ipam check": {
    summary: "find leaked, shared and orphaned addresses and blocks",
    module: "./ipam-check.js",
    datastore: "read",
    options: { output: { type: "string", short: "o", arg: "FORMAT", help: "table or json", choices: ["table", "json"] }, ...DATASTORE },
  },
  "ipam release": {
    summary: "release --ip ADDR | --handle H | --leaked [--grace 15m]",
    module: "./ipam-release.js",
    datastore: "read",
    options: {
      ip: { type: "string", multiple: true, arg: "ADDR", help: "release this address (repeatable)" },
      handle: { type: "string", multiple: true, arg: "HANDLE", help: "release this handle's addresses (repeatable)" },
      leaked: { type: "boolean", help: "release addresses no workload holds" },
      grace: { type: "string", arg: "DURATION", help: "with --leaked: only those leaked this long (default 15m)" },
      "dry-run": { type: "boolean", help: "say what would be released" },
      ...DATASTORE,
    },
  },
  "workload add": {
    summary: "VMs on taps: allocate addresses and write the WorkloadEndpoint for a VM's tap (docs/vms.md)",
    module: "./workload-add.js",
    datastore: "write",
    options: {
      interface: { type: "string", arg: "TAP", help: "the host-side interface the hypervisor made (required)" },
      name: { type: "string", arg: "NAME", help: "the VM's name, the endpoint's workload (required)" },
      ...NAMESPACE,
      labels: { type: "string", arg: "k=v,...", help: "labels policy selects the VM by" },
      mac: { type: "string", arg: "MAC", help: "the VM's MAC: DHCP answers only it" },
      orchestrator: { type: "string", default: "libvirt", arg: "NAME", help: "as Calico's integrations name it", choices: ["libvirt", "openstack"] },
      node: { type: "string", arg: "NODE", help: "the host's Node name (default $TABBY_NODENAME, else the hostname)" },
      output: { type: "string", short: "o", default: "text", arg: "FORMAT", help: "text or json", choices: ["text", "json"] },
      ...DATASTORE,
    },
  },
  "workload delete": {
    summary: "delete a VM's WorkloadEndpoint and release its addresses",
    module: "./workload-delete.js",
    datastore: "read",
    options: {
      name: { type: "string", arg: "NAME", help: "the VM's name (required)" },
      ...NAMESPACE,
      ...DATASTORE,
    },
  },
  "lab up": {
    summary: "build a virtual data center in network namespaces",
    module: "./lab-up.js",
    options: {
      hosts: { type: "string", arg: "N", help: "number of hosts (per rack with --topology fabric)" },
      racks: { type: "string", arg: "N", help: "number of racks (fabric)" },
      tor: { type: "string", arg: "DAEMON", help: "the routers' BGP daemon (fabric)", choices: ["bird", "frr", "tabby", "mixed"] },
      "as-model": { type: "string", arg: "MODEL", help: "the fabric's AS numbering", choices: ["rack", "host"] },
      workloads: { type: "string", default: "2", arg: "N", help: "workloads per host" },
      name: { type: "string", default: "tabby", arg: "LAB", help: "the lab's name" },
      "hold-time": { type: "string", default: "9", arg: "SECONDS", help: "BGP hold time" },
      policy: { type: "string", multiple: true, arg: "FILE", help: "apply these manifests (repeatable)" },
      datastore: { type: "string", default: "sqlite", arg: "KIND", help: "sqlite or etcd (a private TLS etcd)", choices: ["sqlite", "etcd"] },
      topology: { type: "string", arg: "TOPOLOGY", help: "mesh, rr or fabric (default: mesh, rr above 20 hosts)", choices: ["mesh", "rr", "fabric"] },
      bfd: { type: "string", arg: "MS[xN]", help: "BFD on the fabric's host-ToR sessions: interval MS, multiplier N (3)" },
      vms: { type: "string", arg: "N", help: "QEMU VMs per host, on taps, addressed by DHCP (docs/vms.md)" },
    },
  },
  "lab check": {
    summary: "show who reaches whom in the lab",
    module: "./lab-check.js",
    options: {
      ...LAB,
      output: { type: "string", short: "o", arg: "FORMAT", help: "json", choices: ["json"] },
      sample: { type: "string", arg: "N", help: "check a seeded random sample of N ordered pairs (the default above 40 workloads: 200)" },
      seed: { type: "string", arg: "S", help: "with --sample: the seed, to repeat a run's pairs" },
    },
  },
  "lab status": {
    summary: "list the lab's hosts, routers and workloads",
    module: "./lab-status.js",
    options: { ...LAB, output: { type: "string", short: "o", arg: "FORMAT", help: "json", choices: ["json"] } },
  },
  "lab exec": {
    summary: "run a command in a lab host, router or workload: exec NAME -- CMD",
    module: "./lab-exec.js",
    passThrough: true,
    usage: "[--name LAB] NAME -- CMD [ARGS...]",
    args: [
      { name: "NAME", help: "a host, router or workload" },
      { name: "CMD", help: "the command and its arguments", variadic: true },
    ],
    options: { ...LAB },
  },
  "lab restart": {
    summary: "stop and start a host's agent: restart HOST [--kill]",
    module: "./lab-restart.js",
    args: [{ name: "HOST", help: "the host" }],
    options: { ...LAB, kill: { type: "boolean", default: false, help: "SIGKILL instead of SIGTERM" } },
  },
  "lab fail": {
    summary: "make a failure: fail HOST (agent) | ROUTER | A:B (a link)",
    module: "./lab-fail.js",
    args: [{ name: "TARGET", help: "HOST (its agent), ROUTER, or A:B (a link)" }],
    options: { ...LAB },
  },
  "lab heal": {
    summary: "undo a failure (or all): heal [TARGET]",
    module: "./lab-heal.js",
    args: [{ name: "TARGET", help: "the failure to undo (default: all)" }],
    options: { ...LAB },
  },
  "lab drill": {
    summary: "run failures under a 10 ms prober: packets lost, longest gap",
    module: "./lab-drill.js",
    args: [{ name: "TARGET", help: "failures to make (default: one of each kind)", variadic: true }],
    options: {
      ...LAB,
      down: { type: "string", arg: "SECONDS", help: "how long each failure lasts" },
      settle: { type: "string", arg: "SECONDS", help: "wait between failures" },
      output: { type: "string", short: "o", arg: "FORMAT", help: "json", choices: ["json"] },
    },
  },
  "lab down": { summary: "remove everything lab up made", module: "./lab-down.js", options: { ...LAB } },
  "cni install": {
    summary: "install the CNI plugins and a default conflist",
    module: "./cni-install.js",
    options: {
      "bin-dir": { type: "string", default: "/opt/cni/bin", arg: "DIR", help: "CNI plugin directory" },
      "conf-dir": { type: "string", default: "/etc/cni/net.d", arg: "DIR", help: "CNI config directory" },
      "no-conflist": { type: "boolean", default: false, help: "write no conflist" },
      ...DATASTORE,
      nodename: { type: "string", arg: "NAME", help: "the node name the plugins use" },
      name: { type: "string", arg: "NETWORK", help: "the network's name in the conflist" },
    },
  },
  explain: {
    summary: "the path of a packet now: explain SRC DST [--port P] [--protocol tcp|udp|icmp]",
    module: "./explain.js",
    datastore: "read",
    args: [
      { name: "SRC", help: "a workload, host or address" },
      { name: "DST", help: "a workload, host or address" },
    ],
    options: {
      ...LAB,
      port: { type: "string", short: "p", arg: "PORT", help: "destination port (tcp or udp)" },
      protocol: { type: "string", arg: "PROTO", help: "tcp, udp or icmp", choices: ["tcp", "udp", "icmp"] },
      size: { type: "string", arg: "BYTES", help: "packet size" },
      ipv6: { type: "boolean", short: "6", help: "IPv6" },
      output: { type: "string", short: "o", arg: "FORMAT", help: "json", choices: ["json"] },
      ...DATASTORE,
      "tls-ca": { type: "string", arg: "FILE", help: "CA of the agents' explain API" },
      "tls-cert": { type: "string", arg: "FILE", help: "client certificate for the explain API" },
      "tls-key": { type: "string", arg: "FILE", help: "client key for the explain API" },
      "agent-port": { type: "string", arg: "PORT", help: "the agents' explain API port" },
      "fabric-interface": { type: "string", arg: "IF", help: "the hosts' fabric interface" },
      via: { type: "string", arg: "HOW", help: "in a lab: api (default) or control", choices: ["api", "control"] },
    },
  },
  flows: {
    summary: "flow logs with the policy that decided: flows [--follow] [--denied] [-o json]",
    module: "./flows.js",
    options: {
      ...LAB,
      ...CONTROL,
      follow: { type: "boolean", short: "f", help: "keep printing new flows" },
      denied: { type: "boolean", help: "only denied flows" },
      output: { type: "string", short: "o", arg: "FORMAT", help: "json", choices: ["json"] },
    },
  },
  ui: {
    summary: "serve a live map of the lab: ui [--listen 127.0.0.1:9098]",
    module: "./ui.js",
    options: { ...LAB, listen: { type: "string", arg: "ADDR:PORT", help: "where to serve (default 127.0.0.1:9098)" } },
  },
  selector: {
    summary: "evaluate a selector: selector EXPR [--labels k=v,...]",
    module: "./selector.js",
    datastore: "read",
    args: [{ name: "EXPR", help: "a Calico selector (quote it)" }],
    options: {
      labels: { type: "string", short: "l", multiple: true, arg: "K=V,...", help: "labels to match against (repeatable)" },
      output: { type: "string", short: "o", default: "text", arg: "FORMAT", help: "text or json", choices: ["text", "json"] },
      endpoints: { type: "boolean", default: false, help: "list the endpoints in the datastore it selects" },
      ...DATASTORE,
    },
  },
  completion: {
    summary: "print a shell completion script: completion bash|zsh",
    module: "./completion.js",
    args: [{ name: "SHELL", help: "bash or zsh" }],
    options: {},
  },
  version: { summary: "print tabby's version", module: "./version.js", options: {} },
} as const satisfies Record<string, CommandSpec>;

export type CommandWords = keyof typeof COMMANDS;

/** Groups with subcommands, and their one-line summaries. */
export const GROUPS: Record<string, string> = {
  datastore: "export and import the whole datastore",
  node: "the per-host agent: run, install, check, status",
  bgp: "a standalone BGP speaker and its state",
  ipam: "IP address management: show, check, release",
  lab: "a virtual data center in network namespaces",
  cni: "the CNI plugins",
};
