// The command line as a whole (issue #12 steps 6-8): --help on every command and subcommand,
// --version, exit codes (2 usage, 1 error) without stack traces unless --debug, shell completion
// that loads in bash, the config file and its precedence, datastore safety (a read creates
// nothing; missing, corrupt and read-only files), and `bgp run` config errors with their line.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PassThrough } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { main } from "./entry.js";
import { COMMANDS, GROUPS } from "./commands.js";
import { kindAliases } from "../model/kinds.js";
import { parseClientConfig } from "./config-file.js";
import { parseConfig } from "./bgp-run-config.js";
import { DEFAULT_BIN_DIR, DEFAULT_CONF_DIR } from "./cni-install.js";
import { DEFAULT_ENDPOINT_STATUS_DIR, DEFAULT_POLICY_SETUP_TIMEOUT_SECONDS } from "../cni/config.js";
import { DEFAULT_LAB_NAME } from "../lab/plan.js";
import { tabbyVersion } from "../version.js";

const CLI = fileURLToPath(new URL("./main.js", import.meta.url));
let dir = "";
// No lab, no config file, no TABBY_DATASTORE: only what a test sets.
const BASE_ENV: NodeJS.ProcessEnv = { PATH: process.env["PATH"], TABBY_LAB_ROOT: "" };
before(() => {
  dir = mkdtempSync(join(tmpdir(), "tabby-cli-test-"));
  chmodSync(dir, 0o755);
  BASE_ENV["TABBY_LAB_ROOT"] = join(dir, "no-lab");
  BASE_ENV["TABBY_CONFIG"] = "";
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** In-process: main() with captured output. */
async function tabbyIn(argv: string[], env: NodeJS.ProcessEnv = BASE_ENV) {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = "";
  let stderr = "";
  out.on("data", (d) => (stdout += d));
  err.on("data", (d) => (stderr += d));
  const code = await main(argv, { stdout: out, stderr: err, env });
  return { code, stdout, stderr };
}

/** As a process (what a shell sees); `uid` runs it as another user. */
function tabby(argv: string[], env: NodeJS.ProcessEnv = BASE_ENV, uid?: number) {
  const cmd =
    uid === undefined ? [process.execPath, CLI, ...argv] : ["setpriv", `--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", process.execPath, CLI, ...argv];
  const r = spawnSync(cmd[0]!, cmd.slice(1), { env: { ...env }, encoding: "utf8", timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const STACK = /\n\s+at .+\(?.*:\d+:\d+\)?/;

test("--help on every command and subcommand exits 0 and lists its options; resource verbs list the kinds", async () => {
  const top = await tabbyIn(["--help"]);
  assert.equal(top.code, 0);
  for (const w of Object.keys(COMMANDS)) assert.match(top.stdout, new RegExp(`\\n  ${w.split(" ")[0]}\\b`), `tabby --help lists ${w}`);
  for (const g of Object.keys(GROUPS)) {
    const h = await tabbyIn([g, "--help"]);
    assert.equal(h.code, 0, `${g} --help`);
    for (const w of Object.keys(COMMANDS).filter((x) => x.startsWith(`${g} `)))
      assert.match(h.stdout, new RegExp(`\\n  ${w.split(" ")[1]}\\b`), `tabby ${g} --help lists ${w}`);
  }
  for (const [words, spec] of Object.entries(COMMANDS)) {
    for (const flag of ["--help", "-h"]) {
      const h = await tabbyIn([...words.split(" "), flag]);
      assert.equal(h.code, 0, `tabby ${words} ${flag}: ${h.stderr}`);
      assert.match(h.stdout, new RegExp(`^usage: tabby ${words}`), words);
      for (const long of Object.keys(spec.options)) assert.ok(h.stdout.includes(`--${long}`), `tabby ${words} --help lists --${long}`);
      const kinds = "kinds" in spec && spec.kinds;
      assert.equal(/\nKinds /.test(h.stdout), kinds, `${words}: kinds listed iff a resource verb`);
      if (kinds)
        for (const { kind, aliases } of kindAliases()) assert.match(h.stdout, new RegExp(`\\n  ${kind} +${aliases.join(", ")}\\n`), `${words} lists ${kind}`);
    }
    const viaHelp = await tabbyIn(["help", ...words.split(" ")]);
    assert.equal(viaHelp.code, 0, `tabby help ${words}`);
  }
});

test("every command module is in the command tree and parses with it (no second parser)", () => {
  const cliDir = fileURLToPath(new URL(".", import.meta.url));
  const modules = readdirSync(cliDir).filter((f) => f.endsWith(".js") && !f.endsWith(".test.js"));
  const inTree = new Set(Object.values(COMMANDS).map((c) => c.module.replace("./", "")));
  for (const f of modules) {
    const text = readFileSync(join(cliDir, f), "utf8");
    if (/export async function run\(/.test(text)) assert.ok(inTree.has(f), `${f} has a run() but no entry in commands.ts: add one, or main cannot reach it`);
    assert.doesNotMatch(
      text,
      /import\s*\{[^}]*\bparseArgs\b[^}]*\}\s*from\s*"node:util"/,
      `${f} parses arguments with node:util parseArgs: declare its options in commands.ts and use parseCommandLine`,
    );
  }
  for (const m of inTree) assert.ok(modules.includes(m), `commands.ts names ${m}, which does not exist`);
});

test("help shows the defaults the commands use (the tree's literals match the modules' constants)", () => {
  const o = (w: keyof typeof COMMANDS, name: string) => (COMMANDS[w].options as Record<string, { default?: unknown }>)[name]?.default;
  assert.equal(o("cni install", "bin-dir"), DEFAULT_BIN_DIR);
  assert.equal(o("cni install", "conf-dir"), DEFAULT_CONF_DIR);
  assert.equal(o("node install", "bin-dir"), DEFAULT_BIN_DIR);
  assert.equal(o("node install", "conf-dir"), DEFAULT_CONF_DIR);
  assert.equal(o("node check", "conf-dir"), DEFAULT_CONF_DIR);
  assert.equal(o("docker-plugin", "endpoint-status-dir"), DEFAULT_ENDPOINT_STATUS_DIR);
  assert.equal(o("docker-plugin", "policy-setup-timeout"), String(DEFAULT_POLICY_SETUP_TIMEOUT_SECONDS));
  assert.equal(o("lab up", "name"), DEFAULT_LAB_NAME);
});

test("--version and -V print the version and exit 0", async () => {
  for (const v of ["--version", "-V", "version"]) {
    const r = await tabbyIn([v]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, new RegExp(`^tabby ${tabbyVersion().replace(/\./g, "\\.")} \\(datastore schema \\d+, node v`));
  }
});

test("usage errors exit 2 with a message and no stack trace", () => {
  for (const argv of [
    [],
    ["bogus"],
    ["lab"],
    ["get", "nodes", "--bogus"],
    ["get", "nodes", "-o"],
    ["node", "run", "--no-such-flag"],
    ["node", "status", "extra"],
    ["bgp", "peers", "unexpected"],
    ["bgp", "routes", "--family", "ipv5"],
    ["get"],
    ["get", "nosuchkind"],
    ["apply"],
    ["completion", "fish"],
    ["version", "extra"],
  ]) {
    const r = tabby(argv);
    assert.equal(r.code, 2, `tabby ${argv.join(" ")}: ${r.stderr}`);
    assert.ok(r.stderr.trim().length > 0, `tabby ${argv.join(" ")} says why`);
    assert.doesNotMatch(r.stderr, STACK, `tabby ${argv.join(" ")}: no stack trace`);
  }
  assert.match(tabby(["get", "nodes", "--bogus"]).stderr, /^tabby get: unknown option '--bogus'\n\(tabby get --help lists the options\)\n$/);
  assert.match(tabby(["gte"]).stderr, /unknown command 'gte'[\s\S]*get/);
  assert.equal(tabby(["lab", "stats"]).stderr, "tabby lab: unknown command 'stats'\n(Did you mean status?)\n(tabby lab --help lists the commands)\n");
});

test("other errors exit 1 without a stack trace; --debug prints it", () => {
  const sock = join(dir, "nobody-listens.sock");
  const r = tabby(["bgp", "peers", "--control", sock]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^tabby bgp peers: .*ENOENT/);
  assert.doesNotMatch(r.stderr, STACK);
  const d = tabby(["--debug", "bgp", "peers", "--control", sock]);
  assert.equal(d.code, 1);
  assert.match(d.stderr, STACK);
  const d2 = tabby(["bgp", "peers", "--control", sock, "--debug"]);
  assert.match(d2.stderr, STACK, "--debug after the command too");
});

test("tabby completion bash loads in bash and completes commands, subcommands, options, values and kinds", () => {
  const script = join(dir, "tabby.bash");
  const r = tabby(["completion", "bash"]);
  assert.equal(r.code, 0);
  writeFileSync(script, r.stdout);
  const complete = (words: string[]) => {
    const arr = words.map((w) => `'${w}'`).join(" ");
    const b = spawnSync(
      "bash",
      ["-c", `source ${script} && complete -p tabby && COMP_WORDS=(tabby ${arr}) && COMP_CWORD=${words.length} && _tabby && echo "\${COMPREPLY[*]}"`],
      { encoding: "utf8" },
    );
    assert.equal(b.status, 0, b.stderr);
    const [registered, reply] = b.stdout.trimEnd().split("\n");
    assert.match(registered!, /complete .*-F _tabby tabby$/);
    return (reply ?? "").split(" ").filter(Boolean);
  };
  assert.deepEqual(complete(["lab", "u"]), ["up"]);
  assert.ok(complete([""]).includes("apply") && complete([""]).includes("completion"));
  assert.deepEqual(complete(["node", "st"]), ["status"]);
  assert.ok(complete(["get", ""]).includes("ippool"), "kinds after get");
  assert.ok(complete(["get", "-n", "x", "gl"]).includes("globalnetworkpolicy"), "an option's value is skipped");
  assert.deepEqual(complete(["get", "nodes", "-o", ""]), ["table", "wide", "yaml", "json"]);
  assert.deepEqual(complete(["lab", "up", "--topology", "f"]), ["fabric"]);
  assert.deepEqual(complete(["bgp", "refresh", "--p"]), ["--peer"]);
  assert.ok(complete(["node", "run", "--no-"]).includes("--no-bfd"));
  const zsh = tabby(["completion", "zsh"]);
  assert.equal(zsh.code, 0);
  assert.match(zsh.stdout, /^#compdef tabby\n/);
});

test("tabby completion zsh completes in an interactive zsh (zpty)", {
  skip: spawnSync("zsh", ["--version"]).status !== 0 ? "no zsh" : false,
  timeout: 60_000,
}, () => {
  const zdir = join(dir, "zsh");
  mkdirSync(join(zdir, "bin"), { recursive: true });
  writeFileSync(join(zdir, "bin", "tabby"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
  writeFileSync(join(zdir, "_tabby"), tabby(["completion", "zsh"]).stdout);
  const lines = ["tabby lab u", "tabby get nodes -o y", "tabby bgp refresh --pe", "tabby lab up --topology fa", "tabby get ippoo"];
  // types each line and TAB into a real interactive zsh, prints the line as completed
  writeFileSync(
    join(zdir, "drive.zsh"),
    `zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "PATH=${zdir}/bin:\\$PATH; PS1='%% '; autoload -U compinit; compinit -u; source ${zdir}/_tabby"
for line in ${lines.map((l) => `"${l}"`).join(" ")}; do
  zpty -w -n z "$line"$'\\t'
  sleep 1
  all=""
  while zpty -r -t z chunk; do all+=$chunk; done
  print -r -- "$all" | tr '\\r' '\\n' | tail -1 | sed 's/\\x1b\\[[0-9;?]*[a-zA-Z]//g; s/.*\\x08//'
  zpty -w -n z $'\\C-e\\C-u'
done
zpty -d z
`,
  );
  const r = spawnSync("zsh", [join(zdir, "drive.zsh")], { encoding: "utf8", timeout: 50_000 });
  assert.deepEqual(
    r.stdout
      .split("\n")
      .map((l) => l.trim())
      .filter(Boolean),
    ["tabby lab up", "tabby get nodes -o yaml", "tabby bgp refresh --peer", "tabby lab up --topology fabric", "tabby get ippool"],
  );
});

test("config file: $TABBY_CONFIG names the datastore; $TABBY_DATASTORE and --datastore win; the source is said on stderr", () => {
  const a = `sqlite://${join(dir, "cfg-a.db")}`;
  const b = `sqlite://${join(dir, "cfg-b.db")}`;
  const c = `sqlite://${join(dir, "cfg-c.db")}`;
  const node = join(dir, "node.yaml");
  writeFileSync(node, "apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: n1}\nspec: {}\n");
  for (const url of [a, b, c]) assert.equal(tabby(["apply", "-f", node, "--datastore", url]).code, 0);
  tabby(["label", "node", "n1", "store=b", "--datastore", b]);
  tabby(["label", "node", "n1", "store=c", "--datastore", c]);
  const cfg = join(dir, "tabby.yaml");
  writeFileSync(cfg, `apiVersion: tabby/v1\nkind: TabbyConfig\ndatastore: ${a}\n`);
  const env = { ...BASE_ENV, TABBY_CONFIG: cfg };
  const fromCfg = tabby(["get", "node", "n1", "-o", "json"], env);
  assert.equal(fromCfg.code, 0, fromCfg.stderr);
  assert.equal(JSON.parse(fromCfg.stdout).metadata.labels, undefined);
  assert.equal(fromCfg.stderr, `tabby get: datastore ${a} (from the config file ${cfg})\n`);
  const fromEnv = tabby(["get", "node", "n1", "-o", "json"], { ...env, TABBY_DATASTORE: b });
  assert.equal(JSON.parse(fromEnv.stdout).metadata.labels.store, "b");
  assert.equal(fromEnv.stderr, `tabby get: datastore ${b} (from $TABBY_DATASTORE)\n`);
  const fromFlag = tabby(["get", "node", "n1", "-o", "json", "--datastore", c], { ...env, TABBY_DATASTORE: b });
  assert.equal(JSON.parse(fromFlag.stdout).metadata.labels.store, "c");
  assert.equal(fromFlag.stderr, "", "nothing said when the flag names it");
  // a bad config file is an error naming the file, line and column, with the nearest key
  writeFileSync(cfg, `apiVersion: tabby/v1\ndatastroe: ${a}\n`);
  const bad = tabby(["get", "nodes"], env);
  assert.equal(bad.code, 1);
  assert.equal(bad.stderr, `tabby get: ${cfg}:2:1: unknown key datastroe; did you mean datastore? [CLI_CONFIG]\n`);
  const missing = tabby(["get", "nodes"], { ...BASE_ENV, TABBY_CONFIG: join(dir, "none.yaml") });
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /cannot read the config file .*none\.yaml \(\$TABBY_CONFIG\): ENOENT \[CLI_CONFIG\]/);
});

test("config file: the etcd TLS files fold into the etcds:// URL; half a certificate or a wrong type is refused with its line", () => {
  const c = parseClientConfig(
    "datastore: etcds://10.0.0.1:2379,10.0.0.2:2379\netcdCACertFile: /e/ca.pem\netcdCertFile: /e/c.pem\netcdKeyFile: /e/k.pem\n",
    "t.yaml",
  );
  assert.equal(c.datastore, "etcds://10.0.0.1:2379,10.0.0.2:2379?ca=%2Fe%2Fca.pem&cert=%2Fe%2Fc.pem&key=%2Fe%2Fk.pem");
  assert.deepEqual(parseClientConfig("", "t.yaml"), { file: "t.yaml" });
  assert.throws(
    () => parseClientConfig("datastore: etcds://h:2379\netcdCertFile: /e/c.pem\n", "t.yaml"),
    /^TabbyError: t\.yaml:2:1: etcdCertFile: etcdCACertFile, etcdCertFile and etcdKeyFile go together$/,
  );
  assert.throws(() => parseClientConfig("datastore: 5\n", "t.yaml"), /t\.yaml:1:1: datastore: must be a non-empty string/);
  assert.throws(
    () => parseClientConfig("datastore: etcd://h:2379\netcdCACertFile: a\netcdCertFile: b\netcdKeyFile: c\n", "t.yaml"),
    /need datastore: etcds:\/\//,
  );
  assert.throws(() => parseClientConfig("kind: CalicoAPIConfig\n", "t.yaml"), /t\.yaml:1:1: kind: must be TabbyConfig/);
  assert.throws(() => parseClientConfig("datastore: [a\n", "t.yaml"), /t\.yaml:\d+:\d+: not YAML/);
});

test("datastore safety: a read never creates a database; a missing path is an error naming it", () => {
  const missingDir = join(dir, "typo");
  for (const argv of [
    ["get", "nodes"],
    ["ipam", "show"],
    ["ipam", "check"],
    ["datastore", "export"],
    ["delete", "node", "n1"],
    ["selector", "all()", "--endpoints"],
  ]) {
    const r = tabby([...argv, "--datastore", `sqlite://${missingDir}/x.db`]);
    assert.equal(r.code, 1, `${argv.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`${missingDir}/x\\.db does not exist.*\\[DS_NO_DATABASE\\]`), argv.join(" "));
    assert.equal(existsSync(missingDir), false, `${argv.join(" ")} created nothing`);
  }
  // the default path too, and it says which datastore it tried
  const r = tabby(["get", "nodes"], { ...BASE_ENV, TABBY_DATASTORE: `sqlite://${missingDir}/y.db` });
  assert.match(r.stderr, /datastore sqlite:\/\/.*y\.db \(from \$TABBY_DATASTORE\)/);
  // a write creates it, as before
  const node = join(dir, "node2.yaml");
  writeFileSync(node, "apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: n2}\nspec: {}\n");
  assert.equal(tabby(["apply", "-f", node, "--datastore", `sqlite://${missingDir}/x.db`]).code, 0);
  assert.equal(tabby(["get", "nodes", "--datastore", `sqlite://${missingDir}/x.db`]).stdout, "NAME\nn2\n");
});

test("datastore safety: a corrupt file is DS_CORRUPT naming it, at once, for reads, writes and the agent", { timeout: 120_000 }, async () => {
  const bad = join(dir, "corrupt.db");
  writeFileSync(bad, Buffer.alloc(8192, 0x5a));
  chmodSync(bad, 0o600);
  for (const argv of [
    ["get", "nodes"],
    ["apply", "-f", "-"],
  ]) {
    const r = tabby([...argv, "--datastore", `sqlite://${bad}`]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`${bad} is corrupt or not an SQLite database.*\\[DS_CORRUPT\\]`));
  }
  // the agent does not retry it as "unavailable": it stops with the reason
  const agent = spawn(
    process.execPath,
    [CLI, "node", "run", "--name", "t", "--ip", "192.0.2.1/32", "--ip6", "none", "--control", join(dir, "agent.sock"), "--datastore", `sqlite://${bad}`],
    { env: BASE_ENV, stdio: ["ignore", "ignore", "pipe"] },
  );
  let log = "";
  agent.stderr.setEncoding("utf8").on("data", (d: string) => (log += d));
  const exit = await Promise.race([new Promise<number | null>((r) => agent.on("exit", (c) => r(c))), sleep(90_000).then(() => "running" as const)]);
  if (exit === "running") agent.kill("SIGKILL");
  assert.notEqual(exit, "running", `the agent kept retrying: ${log}`);
  assert.notEqual(exit, 0);
  assert.match(log, /DS_CORRUPT|corrupt or not an SQLite database/);
  assert.doesNotMatch(log, /retrying/);
});

test("datastore safety: a file this user may only read can be read (not written)", {
  skip: process.getuid?.() !== 0 || spawnSync("setpriv", ["--version"]).status !== 0 ? "needs root and setpriv" : false,
}, () => {
  const ro = join(dir, "ro");
  mkdirSync(ro, { mode: 0o755 });
  const url = `sqlite://${join(ro, "t.db")}`;
  const node = join(dir, "node3.yaml");
  writeFileSync(node, "apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: n3}\nspec: {}\n");
  chmodSync(node, 0o644);
  assert.equal(tabby(["apply", "-f", node, "--datastore", url]).code, 0);
  chmodSync(join(ro, "t.db"), 0o644);
  const nobody = 65534;
  const r = tabby(["get", "nodes", "--datastore", url], BASE_ENV, nobody);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "NAME\nn3\n");
  const w = tabby(["apply", "-f", node, "--datastore", url], BASE_ENV, nobody);
  assert.equal(w.code, 1);
  assert.match(w.stderr, /opened read-only: this user \(uid 65534\) may not write/);
});

test("bgp run config: unknown keys are errors with their path, line and column and the nearest known key", () => {
  const err = (text: string) => {
    try {
      parseConfig(text, "rr.yaml");
    } catch (e) {
      return (e as Error).message;
    }
    return "accepted";
  };
  assert.equal(err("routerId: 1.2.3.4\nasNumber: 1\npeer:\n  - { address: 1.2.3.5, asNumber: 1 }\n"), "rr.yaml:3:1: unknown key peer; did you mean peers?");
  assert.equal(
    err("routerId: 1.2.3.4\nasNumber: 1\npeers:\n  - address: 1.2.3.5\n    asNumber: 1\n    pasive: true\n"),
    "rr.yaml:6:5: peers[0]: unknown key pasive; did you mean passive?",
  );
  assert.equal(
    err(
      "routerId: 1.2.3.4\nasNumber: 1\npeers:\n  - { address: 1.2.3.5, asNumber: 2 }\n  - address: 1.2.3.6\n    asNumber: 2\n    import:\n      - { action: accept, match: { prefixes: [] } }\n",
    ),
    "rr.yaml:8:36: peers[1].import[0].match: unknown key prefixes; did you mean prefix?",
  );
  assert.equal(err('routerId: 1.2.3.4\nasNumber: 1\nlisten: { address: "::", prot: 179 }\n'), "rr.yaml:3:26: listen: unknown key prot; did you mean port?");
  assert.equal(
    err("routerId: 1.2.3.4\nasNumber: 1\nfrobnicate: 1\n"),
    "rr.yaml:3:1: unknown key frobnicate (known here: routerId, asNumber, clusterId, listen, control, peers, announce, installRoutes, gracefulRestart, metrics)",
  );
  // value errors name the line too
  assert.equal(
    err("routerId: 1.2.3.4\nasNumber: 1\npeers:\n  - { address: 1.2.3.5, asNumber: 1, passive: maybe }\n"),
    "rr.yaml:4:38: peer 1.2.3.5: passive is true or false",
  );
  assert.equal(
    err("routerId: 1.2.3.4\nasNumber: 1\npeers:\n  - address: 1.2.3.5\n    asNumber: 2\n    export:\n      - { action: accept }\n      - { action: maybe }\n"),
    "rr.yaml:8:9: peer 1.2.3.5: export: policy term 2: action must be accept or reject",
  );
  assert.equal(
    err("routerId: 1.2.3.4\nasNumber: 1\npeers:\n  - { address: 1.2.3.5, asNumber: 1, bfd: { minRx: 0 } }\n"),
    "rr.yaml:4:45: peer 1.2.3.5: bfd minRx must be 1..4294967 milliseconds: 0",
  );
  assert.equal(
    err("routerId: 1.2.3.4\nasNumber: [1\n"),
    "rr.yaml:3:1: not valid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]",
  );
  assert.equal(err("routerId: 1.2.3.4\nasNumber: 1\nasNumber: 2\n"), "rr.yaml:3:1: not valid YAML: Map keys must be unique");
  assert.equal(err("asNumber: 1\n"), "rr.yaml:1:1: routerId (dotted quad) is required");
  assert.equal(
    err("routerId: 1.2.3.4\nasNumber: 1\npeers:\n  - { address: 1.2.3.5, asNumber: 1, holdTime: 2 }\n"),
    "rr.yaml:4:38: peers[0].holdTime must be 0 or 3-65535 seconds (RFC 4271), not 2",
  );
  assert.equal(
    err("routerId: 1.2.3.4\nasNumber: 1\npeers:\n  - { address: 1.2.3.5, asNumber: 1, families: [ipv4, evpn] }\n"),
    'rr.yaml:4:38: peers[0].families must be a list of ipv4 and/or ipv6, not ["ipv4","evpn"]',
  );
  assert.equal(
    err("routerId: 1.2.3.4\nasNumber: 1\nannounce:\n  - { prefix: 10.0.0.0 }\n"),
    'rr.yaml:4:7: announce[0].prefix must be a prefix (address/length), not "10.0.0.0"',
  );
  assert.equal(err("routerId: 1.2.3.256\nasNumber: 1\n"), 'rr.yaml:1:1: routerId must be a dotted quad, not "1.2.3.256"');
});

test("bgp run: a config error exits 1 naming the file and line; a refused connection shows in bgp peers", async () => {
  const bad = join(dir, "bad-bgp.yaml");
  writeFileSync(bad, "routerId: 10.0.0.1\nasNumber: 64512\npeers:\n  - { address: 127.0.0.1, asNumber: 64512, pasive: true }\n");
  const r = tabby(["bgp", "run", "-c", bad]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `tabby bgp run: ${bad}:4:44: peers[0]: unknown key pasive; did you mean passive? [CLI_CONFIG]\n`);
  // a peer that refuses the connection: the reason is in `bgp peers`, not a silent Active
  const srv = createServer();
  await new Promise<void>((res) => srv.listen(0, "127.0.0.1", res));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((res) => srv.close(() => res()));
  const sock = join(dir, "bgp.sock");
  const cfg = join(dir, "refused.yaml");
  writeFileSync(
    cfg,
    `routerId: 10.0.0.1\nasNumber: 64512\nlisten: false\ncontrol: ${sock}\npeers:\n  - { address: 127.0.0.1, port: ${port}, asNumber: 64512, connectRetry: 1 }\n`,
  );
  const speaker = spawn(process.execPath, [CLI, "bgp", "run", "-c", cfg], { env: BASE_ENV, stdio: "ignore" });
  after(() => {
    if (speaker.exitCode === null) speaker.kill("SIGTERM");
  });
  let peers: { state: string; lastError?: string }[] = [];
  for (let i = 0; i < 100 && !peers[0]?.lastError; i++) {
    await sleep(100);
    const p = tabby(["bgp", "peers", "--control", sock, "-o", "json"]);
    if (p.code === 0) peers = JSON.parse(p.stdout) as typeof peers;
  }
  assert.match(peers[0]?.lastError ?? "", /connect ECONNREFUSED 127\.0\.0\.1:\d+/);
  const table = tabby(["bgp", "peers", "--control", sock]);
  assert.match(table.stdout, /127\.0\.0\.1 .* Active .*connect ECONNREFUSED/);
  speaker.kill("SIGTERM");
});
