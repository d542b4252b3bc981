import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeRunner, wrapNetns } from "./exec.js";
import { Links, hostVethName, parseAddrs, parseLinks } from "./links.js";
import { NetnsSysctl, applySysctls, hostSysctls, workloadSysctls } from "./sysctl.js";

test("hostVethName: tab + 11 hex chars of sha1(workload id), 14 chars", () => {
  // `printf default.nginx | sha1sum` = c440f455693b69cd...
  assert.equal(hostVethName("default.nginx"), "tabc440f455693");
  assert.match(hostVethName("x"), /^tab[0-9a-f]{11}$/);
  assert.notEqual(hostVethName("a"), hostVethName("b"));
});

test("wrapNetns: paths through nsenter, names through ip netns exec", () => {
  assert.deepEqual(wrapNetns("ip", ["link"], "/proc/1/ns/net"), ["nsenter", ["--net=/proc/1/ns/net", "--", "ip", "link"]]);
  assert.deepEqual(wrapNetns("ip", ["link"], "c1"), ["ip", ["netns", "exec", "c1", "ip", "link"]]);
  assert.deepEqual(wrapNetns("ip", ["link"]), ["ip", ["link"]]);
});

test("link deletion: exact command; a missing link is false, any other failure an error", async () => {
  const r = new FakeRunner().on("link del dev gone", { code: 1, stderr: 'Cannot find device "gone"' });
  const host = new Links(r);
  assert.equal(await host.deleteLink("tab123"), true);
  assert.equal(await host.deleteLink("gone"), false);
  assert.deepEqual(r.lines(), ["ip link del dev tab123", "ip link del dev gone"]);
  r.on("link del dev busy", { code: 2, stderr: "RTNETLINK answers: Operation not permitted" });
  await assert.rejects(host.deleteLink("busy"), { code: "DP_COMMAND_FAILED" });
});

test("parseLinks / parseAddrs read ip -j output", () => {
  const links = parseLinks(`[{"ifindex":4,"link_index":2,"ifname":"tabtest","flags":["BROADCAST","MULTICAST","UP"],"mtu":1400,"address":"ee:ee:ee:ee:ee:ee"}]`);
  assert.deepEqual(links, [{ ifname: "tabtest", ifindex: 4, mac: "ee:ee:ee:ee:ee:ee", mtu: 1400, up: true }]);
  const addrs = parseAddrs(
    `[{"ifindex":2,"ifname":"eth0","mtu":1500,"addr_info":[{"family":"inet","local":"10.0.0.5","prefixlen":32,"scope":"global"},{"family":"inet6","local":"fd00::5","prefixlen":128,"scope":"global"},{"family":"inet6","local":"fe80::1","prefixlen":64,"scope":"link"}]}]`,
  );
  assert.deepEqual(addrs, [
    { cidr: "10.0.0.5/32", family: 4, scope: "global" },
    { cidr: "fd00::5/128", family: 6, scope: "global" },
    { cidr: "fe80::1/64", family: 6, scope: "link" },
  ]);
});

test("sysctls: Calico's per-interface and host-wide set, written in the namespace", async () => {
  assert.deepEqual(
    workloadSysctls("tab1", { v4: true, v6: true }).map((s) => `${s.path}=${s.value}`),
    [
      "net/ipv4/conf/tab1/route_localnet=1",
      "net/ipv4/neigh/tab1/proxy_delay=0",
      "net/ipv4/conf/tab1/proxy_arp=1",
      "net/ipv4/conf/tab1/forwarding=1",
      "net/ipv6/conf/tab1/disable_ipv6=0",
      "net/ipv6/conf/tab1/accept_dad=0",
      "net/ipv6/conf/tab1/proxy_ndp=1",
      "net/ipv6/conf/tab1/forwarding=1",
      "net/ipv6/conf/tab1/accept_ra=0",
    ],
  );
  assert.deepEqual(workloadSysctls("tab1", { v4: false, v6: false }), []);
  assert.deepEqual(
    hostSysctls({ v4: true, v6: true }).map((s) => `${s.path}=${s.value}`),
    ["net/ipv4/ip_forward=1", "net/ipv6/conf/all/forwarding=1"],
  );
  const r = new FakeRunner();
  await applySysctls(new NetnsSysctl(r, "h1"), hostSysctls({ v4: true, v6: true }));
  assert.equal(r.calls.length, 1, "one process for the list");
  assert.deepEqual(r.calls[0]!.args.slice(3), ["net/ipv4/ip_forward", "1", "net/ipv6/conf/all/forwarding", "1"]);
  assert.equal(r.calls[0]!.netns, "h1");
});

test("ExecRunner: input given as a promise is written when it resolves; a rejected one closes stdin empty", async () => {
  const { ExecRunner } = await import("./exec.js");
  const runner = new ExecRunner({ env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
  let feed!: (s: string) => void;
  const later = new Promise<string>((r) => (feed = r));
  const p = runner.run("sh", ["-c", 'read -r first; echo "got $first"; cat']);
  // biome-ignore lint/suspicious/noTemplateCurlyInString: ${HOME-...} is the shell's, not a template's
  const q = runner.run("sh", ["-c", 'read -r first; echo "[$first]"; cat; echo "${HOME-no HOME}"'], { input: later });
  setTimeout(() => feed("one\ntwo\n"), 20);
  assert.equal((await p).stdout, "got \n");
  const r = await q;
  assert.equal(r.stdout, "[one]\ntwo\nno HOME\n", "the first line, then the rest; the environment is PATH alone");
  const failed = await runner.run("sh", ["-c", "read -r x && echo fed || echo none"], { input: Promise.reject(new Error("ADD failed")) });
  assert.equal(failed.stdout, "none\n");
});
