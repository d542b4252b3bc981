/**
 * rtnetlink against the real kernel: the route socket in another namespace, setns and back, and the
 * CNI plugin's plumbing (veth, container and host programming, removal), checked with `ip -j`.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { statSync } from "node:fs";
import { hasCode } from "../src/errors.js";
import { getLink, decodeLink } from "../src/dataplane/netlink/codec.js";
import { loadLibc } from "../src/dataplane/libc.js";
import { RouteSocket, inNetns, isErrno } from "../src/dataplane/netlink/socket.js";
import { NetlinkPlumbing } from "../src/cni/plumbing.js";
import { ipJson } from "./cni-libcni.js";
import { newRoute } from "../src/dataplane/netlink/route-codec.js";

const P = `ttnl${process.pid}`;
const HOST = `${P}h`;
const CONT = `${P}c`;
const path = (ns: string) => `/var/run/netns/${ns}`;
const ownNetns = () => statSync("/proc/thread-self/ns/net").ino;

before(async () => {
  for (const ns of [HOST, CONT]) execFileSync("ip", ["netns", "add", ns]);
  await loadLibc();
});

after(() => {
  for (const ns of [CONT, HOST]) {
    try {
      execFileSync("ip", ["netns", "del", ns]);
    } catch {
      /* already gone */
    }
  }
});

test("inNetns runs in the namespace and always comes back, also when the function throws", () => {
  const home = ownNetns();
  const there = inNetns(path(CONT), () => ownNetns());
  assert.notEqual(there, home);
  assert.equal(there, statSync(path(CONT)).ino);
  assert.equal(ownNetns(), home);
  assert.throws(
    () =>
      inNetns(path(CONT), () => {
        throw new Error("inside");
      }),
    /inside/,
  );
  assert.equal(ownNetns(), home, "back after a throw");
  assert.throws(
    () => inNetns(path(`${P}none`), () => 1),
    (e) => hasCode(e, "DP_NETNS_MISSING"),
  );
  assert.equal(ownNetns(), home);
});

test("a route socket made for a namespace talks to that namespace; errors carry the errno's name", () => {
  const sock = RouteSocket.open(path(CONT));
  try {
    const [reply] = sock.request("look up lo", (seq) => getLink(seq, "lo"));
    assert.equal(decodeLink(reply!).name, "lo");
    assert.throws(
      () => sock.request("look up nope0", (seq) => getLink(seq, "nope0")),
      (e) => isErrno(e, "ENODEV") && (e as Error).message === `look up nope0 in ${path(CONT)}: ENODEV`,
    );
    // a request that cannot even be encoded leaves the socket free for the next one
    assert.throws(
      () => sock.request("bad route", (seq) => newRoute(seq, { dst: "10.0.0.0/33", oif: 1, scope: 0, protocol: 3 })),
      (e) => hasCode(e, "NET_BAD_PREFIX"),
    );
    assert.equal(decodeLink(sock.request("look up lo again", (seq) => getLink(seq, "lo"))[0]!).name, "lo");
  } finally {
    sock.close();
  }
});

test("plumbing: veth with its peer in the container, both sides programmed, EEXIST on a repeat, removal idempotent", async () => {
  const p = await NetlinkPlumbing.create(HOST);
  try {
    await p.createVeth({ hostIf: "tabnltest", hostMac: "ee:ee:ee:ee:ee:ee", ifname: "eth0", netnsPath: path(CONT), mtu: 1400 });
    await assert.rejects(p.createVeth({ hostIf: "tabnltest", hostMac: "ee:ee:ee:ee:ee:ee", ifname: "eth1", netnsPath: path(CONT) }), (e) =>
      isErrno(e, "EEXIST"),
    );
    const { mac } = await p.setupContainer(path(CONT), {
      ifname: "eth0",
      sysctls: [{ path: "net/ipv6/conf/eth0/accept_dad", value: "0" }],
      addrs: ["10.99.0.5/32", "fd99::5/128"],
      routes: [
        { dst: "169.254.1.1/32", scope: "link" },
        { dst: "0.0.0.0/0", gateway: "169.254.1.1" },
        { dst: "::/0", gateway: "fe80::ecee:eeff:feee:eeee" },
      ],
    });
    const [cont] = ipJson(CONT, "link", "show", "dev", "eth0");
    assert.equal(cont.address, mac);
    assert.equal(cont.mtu, 1400);
    assert.ok(cont.flags.includes("UP"));
    assert.equal(execFileSync("ip", ["netns", "exec", CONT, "cat", "/proc/sys/net/ipv6/conf/eth0/accept_dad"], { encoding: "utf8" }).trim(), "0");
    const addrs = ipJson(CONT, "addr", "show", "dev", "eth0")[0].addr_info.filter((a: { scope: string }) => a.scope === "global");
    assert.deepEqual(
      addrs.map((a: { local: string; prefixlen: number }) => `${a.local}/${a.prefixlen}`),
      ["10.99.0.5/32", "fd99::5/128"],
    );
    assert.ok(addrs[1].nodad, "IPv6 address without DAD");
    const routes4 = ipJson(CONT, "-4", "route", "show").map(
      (r: { dst: string; gateway?: string; scope?: string }) => `${r.dst} ${r.gateway ?? ""} ${r.scope ?? ""}`,
    );
    assert.deepEqual(
      routes4.sort(),
      ["169.254.1.1  link", "default 169.254.1.1 "],
      "the default route through the on-link gateway; ip -j omits scope universe",
    );
    assert.equal(ipJson(CONT, "-6", "route", "show", "default")[0].gateway, "fe80::ecee:eeff:feee:eeee");

    await p.setupHost("tabnltest", [{ dst: "10.99.0.5/32", scope: "link" }, { dst: "fd99::5/128" }], 152);
    const [host] = ipJson(HOST, "link", "show", "dev", "tabnltest");
    assert.equal(host.address, "ee:ee:ee:ee:ee:ee");
    assert.ok(host.flags.includes("UP"));
    const owned = [...ipJson(HOST, "-4", "route", "show", "proto", "152"), ...ipJson(HOST, "-6", "route", "show", "proto", "152")];
    assert.deepEqual(
      owned.map((r: { dst: string; dev: string }) => `${r.dst} ${r.dev}`),
      ["10.99.0.5 tabnltest", "fd99::5 tabnltest"],
    );

    assert.equal(await p.deleteLink("tabnltest"), true);
    assert.equal(await p.deleteLink("tabnltest"), false, "already gone");
    assert.deepEqual(
      ipJson(HOST, "link", "show").map((l: { ifname: string }) => l.ifname),
      ["lo"],
    );
    assert.deepEqual(
      ipJson(CONT, "link", "show").map((l: { ifname: string }) => l.ifname),
      ["lo"],
      "the peer went with it",
    );
    await assert.rejects(p.createVeth({ hostIf: "tabnltest", hostMac: "ee:ee:ee:ee:ee:ee", ifname: "eth0", netnsPath: path(`${P}none`) }), (e) =>
      hasCode(e, "DP_NETNS_MISSING"),
    );
  } finally {
    p.close();
  }
});
