/**
 * tabby under the container runtimes users run (docs/cni.md; recipes in cni-runtimes.md): two
 * tabby hosts (network namespaces on a bridge, each running `tabby node run` against one SQLite
 * datastore: `tabby lab` with no workloads), then
 *  - podman (CNI backend, private config and storage) run inside each host's namespace, with the
 *    conflist `tabby cni install` writes (tabby then portmap);
 *  - containerd run inside host 1, its CRI driven by a small gRPC client (test/cri/client.ts) and
 *    `ctr run --rm --cni` under a private mount namespace.
 * Containers get addresses from tabby's IPAM, reach each other across hosts over IPv4 and IPv6,
 * a port mapping through the chained portmap works (podman's `hostPort` and containerd's
 * `HostPort` spellings), and after removal (podman rm, CRI stop + remove, ctr run --rm) no
 * address, veth, route or WorkloadEndpoint is left. Every daemon started here is stopped by pid.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { SqliteStore } from "../src/datastore/sqlite.js";
import { defaultConflist, installCni } from "../src/cli/cni-install.js";
import { run, waitFor } from "./helpers.js";
import { CriClient } from "./cri/client.js";

const have = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
const MISSING = ["podman", "runc", "containerd", "ctr", "busybox"]
  .filter((c) => !have(c))
  .concat(existsSync("/usr/lib/cni/portmap") ? [] : ["containernetworking-plugins"]);
const SKIP = MISSING.length ? `runtime packages not installed (${MISSING.join(", ")}): run scripts/install-deps.sh` : false;

const LAB = `ttc2r${process.pid % 100000}`;
const W = mkdtempSync(join(tmpdir(), `${LAB}-`));
process.env.TABBY_LAB_ROOT = join(W, "lab");
const H1 = `${LAB}-h1`;
const H2 = `${LAB}-h2`;
const FABRIC = `${LAB}-fabric`;
const H1_IP = "10.99.0.11";
const H1_IP6 = "fd99::b";
let datastore = "";
const daemons: ChildProcess[] = [];
const cniNetns = () => (existsSync("/var/run/netns") ? readdirSync("/var/run/netns").filter((n) => n.startsWith("cni-")) : []);
/** containerd's sandbox namespaces that existed before: anything newer is ours to remove if a test fails. */
const cniNetnsBefore = new Set(cniNetns());

const podEnv = (h: string) => ({ CONTAINERS_CONF: join(W, `containers-${h}.conf`), CONTAINERS_STORAGE_CONF: join(W, "storage.conf") });
// nsenter, not `ip netns exec`: the latter mounts a fresh /sys, without the cgroup mounts runc needs.
const inHost = (ns: string) => ["nsenter", `--net=/var/run/netns/${ns}`, "--"];
const podman = (h: "h1" | "h2", ...args: string[]) => {
  const [cmd, ...pre] = inHost(h === "h1" ? H1 : H2);
  return run(cmd!, [...pre, "podman", ...args], { env: podEnv(h) });
};
const must = async (p: Promise<{ code: number; stdout: string; stderr: string }>, what: string) => {
  const r = await p;
  assert.equal(r.code, 0, `${what}: ${r.stderr}${r.stdout}`);
  return r.stdout;
};

interface Wep {
  metadata: { name: string };
  spec: { node: string; workload?: string; pod?: string; orchestrator: string; ipNetworks: string[]; interfaceName: string; containerID: string };
}
async function datastoreItems(prefix: string): Promise<{ key: string; value: string }[]> {
  const s = SqliteStore.open(datastore.slice("sqlite://".length));
  try {
    return (await s.list(prefix)).items;
  } finally {
    await s.close();
  }
}
const weps = async () => (await datastoreItems("/calico/resources/v3/projectcalico.org/workloadendpoints/")).map((kv) => JSON.parse(kv.value) as Wep);
const handles = async () => (await datastoreItems("/calico/ipam/v2/handle/")).map((kv) => kv.key);
const tabLinks = (ns: string) =>
  (JSON.parse(execFileSync("ip", ["-n", ns, "-j", "link", "show"], { encoding: "utf8" })) as { ifname: string }[])
    .map((l) => l.ifname)
    .filter((n) => n.startsWith("tab"));
const workloadRoutes = (ns: string) =>
  ["-4", "-6"]
    .flatMap(
      (f) =>
        JSON.parse(execFileSync("ip", ["-n", ns, "-j", f, "route", "show", "proto", "152"], { encoding: "utf8" }) || "[]") as { dst: string; dev?: string }[],
    )
    .filter((r) => r.dev?.startsWith("tab"))
    .map((r) => `${r.dst} ${r.dev}`);

async function assertNothingLeft(what: string): Promise<void> {
  const left = await waitFor(
    async () => {
      const l = {
        handles: await handles(),
        weps: (await weps()).map((w) => w.metadata.name),
        veths: [...tabLinks(H1), ...tabLinks(H2)],
        routes: [...workloadRoutes(H1), ...workloadRoutes(H2)],
      };
      return Object.values(l).every((x) => x.length === 0) ? true : l;
    },
    20,
    250,
  );
  assert.equal(left, true, `${what}: left behind ${JSON.stringify(left)}`);
}

async function wepOf(pred: (w: Wep) => boolean): Promise<{ v4: string; v6: string; wep: Wep }> {
  const w = (await weps()).find(pred);
  assert.ok(w, "the workload has a WorkloadEndpoint");
  const v4 = w.spec.ipNetworks.find((a) => !a.includes(":"))!.split("/")[0]!;
  const v6 = w.spec.ipNetworks.find((a) => a.includes(":"))!.split("/")[0]!;
  return { v4, v6, wep: w };
}

/**
 * An HTTP GET from inside a podman container with busybox nc (busybox's static wget crashes in a
 * container without NSS files); the body, or "" after retries while BGP spreads the routes.
 */
async function httpFromContainer(h: "h1" | "h2", name: string, ip: string, port: number): Promise<string> {
  for (let i = 0; i < 40; i++) {
    const r = await podman(h, "exec", name, "sh", "-c", `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 ${ip} ${port}`);
    const body = r.stdout.split("\r\n\r\n")[1];
    if (r.code === 0 && body) return body;
    await sleep(250);
  }
  return "";
}

/** An HTTP GET from a namespace (a host's, the fabric's, a sandbox's); the body, or "" after retries. */
async function fetchIn(ns: string, host: string, port: number): Promise<string> {
  const js = `const s=require("net").connect({host:${JSON.stringify(host)},port:${port}},()=>s.write("GET / HTTP/1.0\\r\\n\\r\\n"));let d="";s.on("data",b=>d+=b);s.on("end",()=>process.stdout.write(d,()=>process.exit(0)));s.on("error",e=>{console.error(String(e));process.exit(1)});setTimeout(()=>process.exit(1),2000)`;
  let last = "";
  for (let i = 0; i < 40; i++) {
    const r = await run("ip", ["netns", "exec", ns, process.execPath, "-e", js]);
    const body = r.stdout.split("\r\n\r\n")[1];
    if (r.code === 0 && body) return body;
    last = r.stderr;
    await sleep(250);
  }
  console.log(`fetch ${host}:${port} in ${ns} failed: ${last}`);
  return "";
}

before(async () => {
  if (SKIP) return;
  const { labUp } = await import("../src/lab/up.js");
  const state = await labUp({ name: LAB, hosts: 2, workloads: 0 });
  datastore = state.datastore;
  await installCni({ binDir: join(W, "bin") });

  // An image without a registry: busybox, an httpd page, sleep.
  const root = join(W, "rootfs");
  for (const d of ["bin", "etc", "proc", "sys", "dev", "tmp", "www"]) mkdirSync(join(root, d), { recursive: true });
  execFileSync("cp", ["/bin/busybox", join(root, "bin", "busybox")]);
  for (const a of ["sh", "ip", "ping", "nc", "wget", "cat", "ls", "sleep", "echo", "hostname", "httpd", "netstat"])
    symlinkSync("busybox", join(root, "bin", a));
  writeFileSync(join(root, "www", "index.html"), "tabby-web\n");
  execFileSync("tar", ["-C", root, "-cf", join(W, "rootfs.tar"), "."]);

  writeFileSync(join(W, "storage.conf"), `[storage]\ndriver = "overlay"\ngraphroot = "${W}/storage/root"\nrunroot = "${W}/storage/runroot"\n`);
  for (const h of ["h1", "h2"]) {
    const netd = join(W, `net.d-${h}`);
    mkdirSync(netd, { recursive: true });
    writeFileSync(join(netd, "10-tabby.conflist"), JSON.stringify(defaultConflist({ datastore, nodename: h })));
    writeFileSync(
      join(W, `containers-${h}.conf`),
      `[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\nevents_logfile_path = "${W}/events-${h}.log"\nruntime = "runc"\ntmp_dir = "${W}/tmp-${h}"\n[network]\nnetwork_backend = "cni"\ncni_plugin_dirs = ["${W}/bin", "/usr/lib/cni"]\nnetwork_config_dir = "${netd}"\n`,
    );
  }
  await must(podman("h1", "import", "--change", 'CMD ["/bin/sh"]', join(W, "rootfs.tar"), "localhost/bb:latest"), "podman import");
});

after(async () => {
  if (SKIP) return;
  for (const h of ["h1", "h2"] as const) await podman(h, "rm", "-f", "-a").catch(() => undefined);
  for (const d of daemons) {
    d.kill("SIGTERM");
    for (let i = 0; i < 50 && d.exitCode === null && d.signalCode === null; i++) await sleep(100);
    if (d.exitCode === null && d.signalCode === null) d.kill("SIGKILL");
  }
  // containerd's shims (and anything else our daemons left) name our private dir in their command line.
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      if (Number(pid) !== process.pid && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(W)) process.kill(Number(pid), "SIGKILL");
    } catch {
      /* gone */
    }
  }
  for (const n of cniNetns().filter((n) => !cniNetnsBefore.has(n))) spawnSync("ip", ["netns", "del", n]);
  const { labDown } = await import("../src/lab/down.js");
  await labDown(LAB).catch(() => undefined);
  spawnSync("umount", ["-R", join(W, "ctrd", "root")]);
  spawnSync("sh", ["-c", `grep -o ' ${W}[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l`]);
  rmSync(W, { recursive: true, force: true });
});

test("podman: containers on two tabby hosts, cross-host IPv4 and IPv6, portmap, nothing left after rm", { skip: SKIP }, async () => {
  await must(
    podman("h1", "run", "-d", "--name", "ttc2web", "--network", "tabby", "-p", "18080:8080", "localhost/bb:latest", "httpd", "-f", "-p", "8080", "-h", "/www"),
    "podman run on h1",
  );
  await must(podman("h2", "run", "-d", "--name", "ttc2cli", "--network", "tabby", "localhost/bb:latest", "sleep", "600"), "podman run on h2");

  const web = await wepOf((w) => w.spec.workload === "ttc2web");
  const cli = await wepOf((w) => w.spec.workload === "ttc2cli");
  assert.equal(web.wep.spec.node, "h1");
  assert.equal(cli.wep.spec.node, "h2");
  assert.equal(web.wep.spec.orchestrator, "cni");
  assert.match(web.v4, /^10\.65\./, "address from tabby's pool");
  assert.match(web.v6, /^fd65:/);
  assert.ok(tabLinks(H1).includes(web.wep.spec.interfaceName));

  // Across hosts, container to container, both families (BGP carries the blocks).
  const exec = (ip: string, port: number) => httpFromContainer("h2", "ttc2cli", ip, port);
  const got = await exec(web.v4, 8080);
  assert.equal(got, "tabby-web\n", "IPv4 across hosts");
  assert.equal(await exec(web.v6, 8080), "tabby-web\n", "IPv6 across hosts");
  // The port mapping (podman sends hostPort/containerPort) through the chained portmap.
  assert.equal(await fetchIn(FABRIC, H1_IP, 18080), "tabby-web\n", "port mapping over IPv4");
  assert.equal(await fetchIn(FABRIC, H1_IP6, 18080), "tabby-web\n", "port mapping over IPv6");

  await must(podman("h1", "rm", "-f", "ttc2web"), "podman rm");
  await must(podman("h2", "rm", "-f", "ttc2cli"), "podman rm");
  await assertNothingLeft("after podman rm");
  assert.doesNotMatch(execFileSync("ip", ["netns", "exec", H1, "iptables-save", "-t", "nat"], { encoding: "utf8" }), /dport 18080/);
});

async function startContainerd(): Promise<{ sock: string; dir: string }> {
  const dir = join(W, "ctrd");
  const bin = join(dir, "bin");
  const netd = join(dir, "net.d");
  for (const d of [bin, netd, join(dir, "logs")]) mkdirSync(d, { recursive: true });
  // One bin dir (containerd takes only one): our wrappers beside the reference plugins.
  for (const f of readdirSync("/usr/lib/cni")) symlinkSync(join("/usr/lib/cni", f), join(bin, f));
  for (const f of ["tabby", "tabby-ipam"]) symlinkSync(join(W, "bin", f), join(bin, f));
  writeFileSync(join(netd, "10-tabby.conflist"), JSON.stringify(defaultConflist({ datastore, nodename: "h1" })));
  const sock = join(dir, "containerd.sock");
  const conf = execFileSync("containerd", ["config", "default"], { encoding: "utf8" })
    .replace(/^root = .*$/m, `root = "${dir}/root"`)
    .replace(/^state = .*$/m, `state = "${dir}/state"`)
    .replace(/(\[grpc\][^[]*?address = )"[^"]*"/, `$1"${sock}"`)
    .replace(/restrict_oom_score_adj = false/, "restrict_oom_score_adj = true")
    .replace(/sandbox_image = "[^"]*"/, 'sandbox_image = "localhost/pause:latest"')
    .replace(/bin_dir = "[^"]*"/, `bin_dir = "${bin}"`)
    .replace(/conf_dir = "[^"]*"/, `conf_dir = "${netd}"`)
    .replace(/path = "\/opt\/containerd"/, `path = "${dir}/opt"`);
  writeFileSync(join(dir, "config.toml"), conf);
  const log = openSync(join(dir, "containerd.log"), "a");
  // nsenter execs containerd in place: the pid is containerd's.
  const d = spawn("nsenter", [`--net=/var/run/netns/${H1}`, "--", "containerd", "--config", join(dir, "config.toml")], { stdio: ["ignore", log, log] });
  daemons.push(d);
  assert.ok(await waitFor(async () => existsSync(sock), 100, 100), "containerd's socket appears");
  // Images: the pause image (sleep forever) for CRI, busybox for ctr run.
  await must(podman("h1", "import", "--change", 'ENTRYPOINT ["/bin/sleep","999999999"]', join(W, "rootfs.tar"), "localhost/pause:latest"), "pause image");
  for (const [img, ns] of [
    ["pause", "k8s.io"],
    ["bb", "default"],
  ] as const) {
    const tar = join(W, `${img}.tar`);
    await must(podman("h1", "save", "--format", "docker-archive", "-o", tar, `localhost/${img}:latest`), `podman save ${img}`);
    await must(run("ctr", ["-a", sock, "-n", ns, "images", "import", tar]), `ctr import ${img}`);
  }
  return { sock, dir };
}

/** The sandbox's network namespace: the containerd-made netns whose eth0 has `ip`. */
function netnsWith(ip: string): string | undefined {
  for (const ns of readdirSync("/var/run/netns").filter((n) => n.startsWith("cni-"))) {
    const r = spawnSync("ip", ["-n", ns, "addr", "show"], { encoding: "utf8" });
    if (r.stdout?.includes(` ${ip}/`)) return ns;
  }
  return undefined;
}

test("containerd: CRI sandboxes (gRPC) and ctr run --rm --cni; portmap with HostPort; double DEL; nothing left", { skip: SKIP }, async () => {
  const { sock, dir } = await startContainerd();
  const cri = new CriClient(sock, dir);
  let server: ChildProcess | undefined;
  try {
    assert.equal((await cri.version()).runtime_name, "containerd");
    // A podman container on host 2 to reach across hosts.
    await must(
      podman("h2", "run", "-d", "--name", "ttc2peer", "--network", "tabby", "localhost/bb:latest", "httpd", "-f", "-p", "8080", "-h", "/www"),
      "podman run on h2",
    );
    const peer = await wepOf((w) => w.spec.workload === "ttc2peer");

    const id = await cri.runPodSandbox({
      metadata: { name: "crip", uid: "uid-crip", namespace: "crins", attempt: 0 },
      hostname: "crip",
      // Through the pod-annotations capability: a valid label is taken, free-form JSON is not.
      annotations: { role: "api", "kubectl.kubernetes.io/last-applied-configuration": '{"kind":"Pod"}' },
      log_directory: join(dir, "logs"),
      port_mappings: [{ protocol: "TCP", container_port: 8080, host_port: 18090 }],
      linux: {},
    });
    const st = await cri.podSandboxStatus(id);
    assert.equal(st.status.state, "SANDBOX_READY");
    const ips = [st.status.network!.ip, ...st.status.network!.additional_ips.map((x) => x.ip)];
    const pod = await wepOf((w) => w.spec.pod === "crip");
    assert.equal(pod.wep.spec.orchestrator, "k8s", "K8S_POD_NAMESPACE/K8S_POD_NAME from CRI");
    assert.deepEqual(
      (pod.wep as unknown as { metadata: { labels: Record<string, string> } }).metadata.labels,
      { role: "api", "projectcalico.org/namespace": "crins", "projectcalico.org/orchestrator": "k8s" },
      "the pod's annotations arrive as labels (io.kubernetes.cri.pod-annotations)",
    );
    assert.deepEqual(ips.sort(), [pod.v4, pod.v6].sort(), "CRI reports tabby's addresses");
    const ns = netnsWith(pod.v4);
    assert.ok(ns, "the sandbox's netns");

    // Cross-host both ways: sandbox → podman container on h2, and h2's container → the sandbox.
    assert.equal(await fetchIn(ns, peer.v4, 8080), "tabby-web\n", "CRI pod → h2 over IPv4");
    assert.equal(await fetchIn(ns, peer.v6, 8080), "tabby-web\n", "CRI pod → h2 over IPv6");
    server = spawn("ip", ["netns", "exec", ns, "busybox", "httpd", "-f", "-p", "8080", "-h", join(W, "rootfs", "www")], { stdio: "ignore" });
    daemons.push(server);
    // containerd sends HostPort/ContainerPort: portmap on h1 forwards 18090 to the pod.
    assert.equal(await fetchIn(FABRIC, H1_IP, 18090), "tabby-web\n", "CRI port mapping");
    assert.equal(await httpFromContainer("h2", "ttc2peer", pod.v6, 8080), "tabby-web\n", "h2 → CRI pod over IPv6");
    server.kill();

    // kubelet's order: stop (DEL with the netns), then remove (DEL again, no netns).
    await cri.stopPodSandbox(id);
    await cri.stopPodSandbox(id);
    await cri.removePodSandbox(id);
    await must(podman("h2", "rm", "-f", "ttc2peer"), "podman rm");
    await assertNothingLeft("after CRI stop + remove");

    // ctr run --rm --cni reads /etc/cni/net.d and /opt/cni/bin: bind ours over them privately.
    const script = `mkdir -p /etc/cni/net.d /opt/cni/bin && mount --bind ${dir}/net.d /etc/cni/net.d && mount --bind ${dir}/bin /opt/cni/bin && exec ctr -a ${sock} run --rm --cni localhost/bb:latest ttc2ctr sh -c "ip addr show eth0"`;
    const out = await must(
      run("nsenter", [`--net=/var/run/netns/${H1}`, "--", "unshare", "-m", "--propagation", "private", "sh", "-c", script]),
      "ctr run --rm --cni",
    );
    assert.match(out, /inet 10\.65\.\d+\.\d+\/32/, "ctr's container got a tabby address");
    await assertNothingLeft("after ctr run --rm");
  } finally {
    server?.kill();
    cri.close();
  }
});
