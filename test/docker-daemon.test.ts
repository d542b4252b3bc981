/**
 * `tabby docker-plugin` under Debian's real dockerd (docker.io 20.10), in lab namespaces: each
 * host namespace runs `tabby node run`, the plugin and its own dockerd (own data and exec roots,
 * pidfile and socket, `--iptables=false --ip6tables=false --bridge=none`, vfs storage), started
 * with nsenter (`ip netns exec` remounts /sys without the cgroup mounts dockerd needs). The two
 * hosts peer over BGP (the node-to-node mesh). The image is a busybox-static root filesystem made
 * offline with `docker import`. dockerd finds plugins only under /run/docker/plugins: each host's
 * plugin gets a name unique to this test run.
 * Shown: `docker network create -d P --ipam-driver P --ipv6` and `docker run --label role=web`
 * give containers tabby addresses and endpoints with their labels; containers on the two hosts
 * reach each other over IPv4 and IPv6 through BGP-learned routes; a policy selecting a container
 * label blocks and allows as written; `docker rm` and `docker network rm` leave no address,
 * endpoint, profile or interface behind (`tabby ipam check` clean).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "./bird-tabby-pair.js";
import { hostWithUplink } from "./cni-libcni.js";

const canRun = process.getuid?.() === 0 && existsSync("/usr/sbin/dockerd") && existsSync("/usr/bin/docker") && existsSync("/bin/busybox");
const P = `ttdd${process.pid}`;
const HOSTS = ["a", "b"] as const;
type H = (typeof HOSTS)[number];
const ns = (h: H) => `${P}${h}`;
const upNs = (h: H) => `${P}${h}u`;
const plugin = (h: H) => `${P}${h}`;
const addr = { a: "10.97.0.1", b: "10.97.0.2" };
const dir = mkdtempSync(join(tmpdir(), "tabby-docker-daemon-"));
const main = new URL("../src/cli/main.js", import.meta.url).pathname;
const datastore = `sqlite://${join(dir, "tabby.db")}`;
const running: ChildProcess[] = [];
const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
const tabby = (...args: string[]) => spawnSync(process.execPath, [main, ...args, "--datastore", datastore], { encoding: "utf8" });
const dsock = (h: H) => join(dir, `docker-${h}.sock`);
const docker = (h: H, ...args: string[]) =>
  spawnSync("/usr/bin/docker", ["-H", `unix://${dsock(h)}`, ...args], {
    encoding: "utf8",
    env: { PATH: process.env.PATH, DOCKER_CONFIG: join(dir, "docker-cli") },
  });
const dockerOk = (h: H, ...args: string[]) => {
  const r = docker(h, ...args);
  assert.equal(r.status, 0, `docker ${args.join(" ")}: ${r.stderr}${r.stdout}\n${logs()}`);
  return r.stdout.trim();
};
const logs = () =>
  HOSTS.flatMap((h) => [`agent-${h}.log`, `plugin-${h}.log`])
    .map((f) => (existsSync(join(dir, f)) ? `--- ${f}\n${readFileSync(join(dir, f), "utf8").slice(-2000)}` : ""))
    .join("\n");

function spawnLogged(cmd: string, args: string[], log: string, env: NodeJS.ProcessEnv = process.env): ChildProcess {
  const fd = openSync(join(dir, log), "a");
  const p = spawn(cmd, args, { stdio: ["ignore", fd, fd], env });
  running.push(p);
  return p;
}

before(() => {
  if (!canRun) return;
  for (const h of HOSTS) for (const n of [ns(h), upNs(h)]) sh("ip", ["netns", "add", n]);
  sh("ip", ["link", "add", "eth0", "netns", ns("a"), "type", "veth", "peer", "name", "eth0", "netns", ns("b")]);
  for (const h of HOSTS) {
    sh("ip", ["-n", ns(h), "addr", "add", `${addr[h]}/24`, "dev", "eth0"]);
    sh("ip", ["-n", ns(h), "-6", "addr", "add", `fd97::${h === "a" ? 1 : 2}/64`, "dev", "eth0", "nodad"]);
    sh("ip", ["-n", ns(h), "link", "set", "eth0", "up"]);
    // Proxy ARP answers for 169.254.1.1 only with a default route: each host's goes to an
    // upstream namespace of its own that routes nothing back, so cross-host traffic between
    // containers can only take the routes BGP taught.
    hostWithUplink(ns(h), upNs(h), h === "a" ? "192.168.241" : "192.168.242", h === "a" ? "fd41" : "fd42");
  }
});

after(() => {
  if (!canRun) return;
  for (const h of HOSTS) {
    const pidfile = join(dir, `dockerd-${h}.pid`);
    if (existsSync(pidfile)) {
      try {
        process.kill(Number(readFileSync(pidfile, "utf8").trim()), "SIGTERM");
      } catch {
        /* gone */
      }
    }
  }
  spawnSync("sleep", ["3"]);
  for (const p of running) if (p.pid && p.exitCode === null && p.signalCode === null) process.kill(p.pid, "SIGKILL");
  for (const h of HOSTS) {
    rmSync(`/run/docker/plugins/${plugin(h)}.sock`, { force: true });
    spawnSync("ip", ["netns", "del", ns(h)]);
    spawnSync("ip", ["netns", "del", upNs(h)]);
  }
  spawnSync("umount", ["-R", join(dir, "exec-a")]);
  spawnSync("umount", ["-R", join(dir, "exec-b")]);
  rmSync(dir, { recursive: true, force: true });
});

const pingFrom = (h: H, name: string, target: string) => docker(h, "exec", name, "ping", "-c", "1", "-W", "1", target).status === 0;
const pingsSoon = (h: H, name: string, target: string) => {
  for (let i = 0; i < 5; i++) if (pingFrom(h, name, target)) return true;
  return false;
};

test("Docker with tabby: addresses, labels, cross-host v4/v6 over BGP, policy by container label, nothing left after rm", {
  skip: !canRun && "needs root, docker.io and busybox",
  timeout: 300000,
}, async () => {
  // The image, offline.
  const root = join(dir, "rootfs");
  for (const d of ["bin", "etc", "proc", "sys", "dev", "tmp"]) mkdirSync(join(root, d), { recursive: true });
  execFileSync("cp", ["/bin/busybox", join(root, "bin", "busybox")]);
  for (const a of ["sh", "ping", "ping6", "sleep", "ip"]) symlinkSync("busybox", join(root, "bin", a));
  execFileSync("tar", ["-C", root, "-cf", join(dir, "rootfs.tar"), "."]);

  for (const h of HOSTS) {
    spawnLogged(
      "ip",
      [
        "netns",
        "exec",
        ns(h),
        process.execPath,
        main,
        "node",
        "run",
        "--name",
        `h${h}`,
        "--ip",
        `${addr[h]}/24`,
        "--ip6",
        `fd97::${h === "a" ? 1 : 2}/64`,
        "--ipv4-pool",
        "10.98.0.0/16",
        "--ipv6-pool",
        "fd98::/48",
        "--datastore",
        datastore,
        "--control",
        join(dir, `node-${h}.sock`),
        "--endpoint-status-dir",
        join(dir, `endpoint-status-${h}`),
        "--hold-time",
        "9",
        "--ipam-gc-grace",
        "off",
      ],
      `agent-${h}.log`,
    );
    spawnLogged(
      "nsenter",
      [
        `--net=/var/run/netns/${ns(h)}`,
        "--",
        "/usr/sbin/dockerd",
        "--data-root",
        join(dir, `data-${h}`),
        "--exec-root",
        join(dir, `exec-${h}`),
        "--pidfile",
        join(dir, `dockerd-${h}.pid`),
        "-H",
        `unix://${dsock(h)}`,
        "--iptables=false",
        "--ip6tables=false",
        "--bridge=none",
        "--storage-driver=vfs",
      ],
      `dockerd-${h}.log`,
    );
  }
  for (const h of HOSTS) await waitFor(`agent ${h} programs its table`, () => existsSync(join(dir, `endpoint-status-${h}`)), 60000);
  for (const h of HOSTS) {
    spawnLogged(
      "ip",
      [
        "netns",
        "exec",
        ns(h),
        process.execPath,
        main,
        "docker-plugin",
        "--name",
        plugin(h),
        "--nodename",
        `h${h}`,
        "--datastore",
        datastore,
        "--docker-host",
        `unix://${dsock(h)}`,
        "--endpoint-status-dir",
        join(dir, `endpoint-status-${h}`),
        "--log-level",
        "debug",
      ],
      `plugin-${h}.log`,
      { ...process.env, TABBY_IPAM_LOCK: join(dir, `ipam-${h}.lock`) },
    );
  }
  for (const h of HOSTS) {
    await waitFor(`dockerd ${h}`, () => docker(h, "version").status === 0, 60000);
    await waitFor(`plugin ${h}`, () => existsSync(`/run/docker/plugins/${plugin(h)}.sock`), 30000);
    dockerOk(h, "import", join(dir, "rootfs.tar"), "tbb:1");
  }

  // A tabby network on each host, a container with a label on each.
  for (const h of HOSTS) dockerOk(h, "network", "create", "-d", plugin(h), "--ipam-driver", plugin(h), "--ipv6", "--label", "tier=front", "shop");
  const ips: Record<H, { v4: string; v6: string }> = { a: { v4: "", v6: "" }, b: { v4: "", v6: "" } };
  for (const h of HOSTS) {
    dockerOk(h, "run", "-d", "--network", "shop", "--label", "role=web", "--name", `web${h}`, "tbb:1", "sleep", "600");
    const info = JSON.parse(dockerOk(h, "inspect", `web${h}`))[0].NetworkSettings.Networks.shop as { IPAddress: string; GlobalIPv6Address: string };
    ips[h] = { v4: info.IPAddress, v6: info.GlobalIPv6Address };
    assert.match(ips[h].v4, /^10\.98\./);
    assert.match(ips[h].v6, /^fd98:/);
  }
  await waitFor(
    "both endpoints written",
    () => (tabby("get", "workloadendpoints", "-n", "docker", "-o", "json").stdout.match(/"role": "web"/g) ?? []).length === 2,
    60000,
  );

  // Cross-host, both families, through BGP-learned routes.
  await waitFor(
    "a route to b's container via b, learned over BGP",
    () => sh("ip", ["-n", ns("a"), "route", "get", ips.b.v4]).includes(`via ${addr.b} `),
    90000,
  );
  await waitFor(
    "a route to a's container via a, learned over BGP",
    () => sh("ip", ["-n", ns("b"), "-6", "route", "get", ips.a.v6]).includes("via fd97::1 "),
    90000,
  );
  assert.ok(pingsSoon("a", "weba", ips.b.v4), `IPv4 a→b\n${logs()}`);
  assert.ok(pingsSoon("b", "webb", ips.a.v6), `IPv6 b→a\n${logs()}`);

  // A policy selecting the container label: deny ICMP into role=web from role=web on host b only
  // when selected by label; then allow again when the policy goes.
  writeFileSync(
    join(dir, "deny.yaml"),
    "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: { name: no-ping-web }\nspec:\n  selector: role == 'web'\n  types: [Ingress]\n  ingress: [{ action: Deny, protocol: ICMP }, { action: Deny, protocol: ICMPv6 }, { action: Allow }]\n",
  );
  assert.equal(tabby("apply", "-f", join(dir, "deny.yaml")).status, 0);
  await waitFor("the deny in force", () => !pingFrom("a", "weba", ips.b.v4), 30000);
  assert.ok(!pingFrom("b", "webb", ips.a.v6));
  assert.equal(tabby("delete", "globalnetworkpolicy", "no-ping-web").status, 0);
  await waitFor("allowed again", () => pingFrom("a", "weba", ips.b.v4), 30000);

  // Removal leaves nothing.
  for (const h of HOSTS) {
    dockerOk(h, "rm", "-f", `web${h}`);
    dockerOk(h, "network", "rm", "shop");
  }
  await waitFor("endpoints gone", () => !/WorkloadEndpoint/.test(tabby("get", "workloadendpoints", "-n", "docker", "-o", "json").stdout), 30000);
  for (const h of HOSTS) {
    const links = JSON.parse(sh("ip", ["-n", ns(h), "-j", "link", "show"])) as { ifname: string }[];
    assert.deepEqual(
      links.filter((l) => l.ifname.startsWith("tab") || l.ifname.startsWith("tmp")),
      [],
      `no veth left on ${h}`,
    );
  }
  assert.doesNotMatch(tabby("get", "profiles", "-o", "json").stdout, /docker\./);
  const check = tabby("ipam", "check");
  assert.equal(check.status, 0, check.stdout + check.stderr);
});
