/**
 * The routed-fabric lab's plan and router configurations: the layout (names, addresses, ASes in
 * both AS models), golden text of a BIRD ToR, an FRR ToR, the BIRD spine and a tabby ToR
 * (src/lab/testdata/*; UPDATE_GOLDEN=1 rewrites them), and, where the daemons are installed,
 * BIRD's and FRR's own parsers accept every generated file (`bird -p`, `bgpd -C`).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { planFabric } from "./fabric-plan.js";
import { birdConfig, frrConfig, tabbyTorConfig, zebraConfig } from "./fabric-config.js";
import { isLabNamespace, planLab } from "./plan.js";

const GOLDEN_DIR = fileURLToPath(new URL("../../../src/lab/testdata/", import.meta.url));
const files = { dir: "/run/tabby/lab/fab/ROUTER", holdTime: 9 };

test("fabric plan: racks, dual-homed hosts, ToRs, one spine; rack AS model", () => {
  const f = planFabric("fab", { racks: 2, hosts: 2, tor: "mixed", asModel: "rack" });
  assert.deepEqual(
    f.routers.map((r) => [r.name, r.netns, r.kind, r.role, r.rack, r.asNumber, r.routerId]),
    [
      ["r1a", "fab-r1a", "bird", "tor", "r1", 65001, "10.98.1.1"],
      ["r1b", "fab-r1b", "frr", "tor", "r1", 65001, "10.98.1.2"],
      ["r2a", "fab-r2a", "bird", "tor", "r2", 65002, "10.98.2.1"],
      ["r2b", "fab-r2b", "frr", "tor", "r2", 65002, "10.98.2.2"],
      ["sp1", "fab-sp1", "bird", "spine", undefined, 65000, "10.97.255.1"],
    ],
  );
  assert.deepEqual(
    f.hosts.map((h) => [h.name, h.rack, h.asNumber, h.ipv4, h.ipv6, h.uplinks.map((u) => `${u.ifname}→${u.tor} ${u.torIPv4} ${u.torIPv6}`)]),
    [
      ["h1", "r1", 65001, "10.98.1.11", "fd98:1::b", ["upa→r1a 10.98.1.1 fd98:1::1", "upb→r1b 10.98.1.2 fd98:1::2"]],
      ["h2", "r1", 65001, "10.98.1.12", "fd98:1::c", ["upa→r1a 10.98.1.1 fd98:1::1", "upb→r1b 10.98.1.2 fd98:1::2"]],
      ["h3", "r2", 65002, "10.98.2.11", "fd98:2::b", ["upa→r2a 10.98.2.1 fd98:2::1", "upb→r2b 10.98.2.2 fd98:2::2"]],
      ["h4", "r2", 65002, "10.98.2.12", "fd98:2::c", ["upa→r2a 10.98.2.1 fd98:2::1", "upb→r2b 10.98.2.2 fd98:2::2"]],
    ],
  );
  const r2b = f.routers[3]!;
  assert.deepEqual(r2b.up, {
    ifname: "up-sp1",
    ipv4: "10.97.0.7/31",
    ipv6: "fd97::7/127",
    peerName: "sp1",
    peerIfname: "dn-r2b",
    peerIPv4: "10.97.0.6",
    peerIPv6: "fd97::6",
    peerAs: 65000,
  });
  assert.deepEqual(
    r2b.down.map((d) => [d.ifname, d.ipv4, d.ipv6, d.peerIPv4, d.peerAs]),
    [
      ["dn-h3", "10.98.2.2/32", "fd98:2::2/128", "10.98.2.11", 65002],
      ["dn-h4", "10.98.2.2/32", "fd98:2::2/128", "10.98.2.12", 65002],
    ],
  );
  const sp = f.routers[4]!;
  assert.deepEqual(
    sp.down.map((d) => [d.ifname, d.ipv4, d.peerIPv4, d.peerAs]),
    [
      ["dn-r1a", "10.97.0.0/31", "10.97.0.1", 65001],
      ["dn-r1b", "10.97.0.2/31", "10.97.0.3", 65001],
      ["dn-r2a", "10.97.0.4/31", "10.97.0.5", 65002],
      ["dn-r2b", "10.97.0.6/31", "10.97.0.7", 65002],
    ],
  );
  // the lab plan takes the fabric's hosts; every namespace is recognised as the lab's
  const lab = planLab({ name: "fab", hosts: 2, workloads: 1 }, f);
  assert.deepEqual(
    lab.hosts.map((h) => [h.name, h.ipv4, h.ipv6, h.rack]),
    [
      ["h1", "10.98.1.11/32", "fd98:1::b/128", "r1"],
      ["h2", "10.98.1.12/32", "fd98:1::c/128", "r1"],
      ["h3", "10.98.2.11/32", "fd98:2::b/128", "r2"],
      ["h4", "10.98.2.12/32", "fd98:2::c/128", "r2"],
    ],
  );
  assert.equal(lab.workloads.length, 4);
  for (const ns of [...f.routers.map((r) => r.netns), ...lab.hosts.map((h) => h.netns)]) assert.ok(isLabNamespace("fab", ns), ns);
});

test("fabric plan: host AS model gives every host and every ToR an AS of its own", () => {
  const f = planFabric("fab", { racks: 2, hosts: 1, tor: "bird", asModel: "host" });
  assert.deepEqual(
    f.routers.map((r) => [r.name, r.kind, r.asNumber]),
    [
      ["r1a", "bird", 65011],
      ["r1b", "bird", 65012],
      ["r2a", "bird", 65021],
      ["r2b", "bird", 65022],
      ["sp1", "bird", 65000],
    ],
  );
  assert.deepEqual(
    f.hosts.map((h) => [h.name, h.asNumber]),
    [
      ["h1", 4200000001],
      ["h2", 4200000002],
    ],
  );
  assert.deepEqual(
    f.routers[0]!.down.map((d) => d.peerAs),
    [4200000001],
  );
});

test("fabric plan: bad shapes are refused with a code", () => {
  assert.throws(() => planFabric("fab", { racks: 0, hosts: 2, tor: "mixed", asModel: "rack" }), { code: "LAB_BAD_SHAPE" });
  assert.throws(() => planFabric("fab", { racks: 2, hosts: 21, tor: "mixed", asModel: "rack" }), { code: "LAB_BAD_SHAPE" });
  assert.throws(() => planFabric("fab", { racks: 2, hosts: 2, tor: "cisco" as never, asModel: "rack" }), { code: "LAB_BAD_SHAPE" });
  assert.throws(() => planFabric("fab", { racks: 2, hosts: 2, tor: "mixed", asModel: "as" as never }), { code: "LAB_BAD_SHAPE" });
});

const rack = planFabric("fab", { racks: 2, hosts: 2, tor: "mixed", asModel: "rack" });
const host = planFabric("fab", { racks: 1, hosts: 2, tor: "frr", asModel: "host" });
const GOLDEN: Record<string, () => string> = {
  "bird-tor-rack.conf": () => birdConfig(rack, rack.routers[0]!, files),
  "bird-spine-rack.conf": () => birdConfig(rack, rack.routers[4]!, files),
  "frr-tor-rack.conf": () => frrConfig(rack, rack.routers[1]!, files),
  "frr-tor-host.conf": () => frrConfig(host, host.routers[1]!, files),
  "tabby-tor-rack.yaml": () => tabbyTorConfig(rack, rack.routers[0]!, { ...files, control: "/run/tabby/lab/fab/r1a/tabby.sock" }),
};

for (const [name, gen] of Object.entries(GOLDEN)) {
  test(`golden: ${name}`, () => {
    const got = gen();
    const file = `${GOLDEN_DIR}${name}`;
    if (process.env.UPDATE_GOLDEN) {
      mkdirSync(GOLDEN_DIR, { recursive: true });
      writeFileSync(file, got);
    }
    assert.equal(got, readFileSync(file, "utf8"));
  });
}

const canBird = existsSync("/usr/sbin/bird");
test("BIRD parses every generated BIRD configuration (bird -p)", { skip: canBird ? false : "needs bird" }, () => {
  const dir = mkdtempSync(join(tmpdir(), "tabby-fabric-conf-"));
  try {
    for (const plan of [rack, host, planFabric("fab", { racks: 2, hosts: 1, tor: "bird", asModel: "host" })]) {
      for (const r of plan.routers.filter((x) => x.kind === "bird")) {
        const f = join(dir, `${r.name}.conf`);
        writeFileSync(f, birdConfig(plan, r, { dir, holdTime: 9 }));
        execFileSync("bird", ["-p", "-c", f], { stdio: ["ignore", "pipe", "pipe"] });
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const canFrr = existsSync("/usr/lib/frr/bgpd") && process.getuid?.() === 0;
test("FRR's bgpd and zebra accept every generated FRR configuration (-C, dry run)", { skip: canFrr ? false : "needs FRR and root" }, () => {
  const dir = mkdtempSync(join(tmpdir(), "tabby-fabric-conf-"));
  try {
    for (const plan of [rack, host]) {
      for (const r of plan.routers.filter((x) => x.kind === "frr")) {
        const f = join(dir, `${r.name}.conf`);
        writeFileSync(f, frrConfig(plan, r, { dir, holdTime: 9 }));
        // bgpd -C exits 0 whatever it finds: its complaints on stderr are what count
        const r1 = spawnSync("/usr/lib/frr/bgpd", ["-C", "-S", "-Z", "-f", f, "-i", join(dir, "x.pid"), "--vty_socket", dir], { encoding: "utf8" });
        assert.equal(r1.status, 0);
        assert.doesNotMatch(r1.stdout + r1.stderr, /No such command|Unknown command|error/i, `${r.name}: ${r1.stderr}`);
        const z = join(dir, "zebra.conf");
        writeFileSync(z, zebraConfig(r, { dir, holdTime: 9 }));
        const r2 = spawnSync(
          "/usr/lib/frr/zebra",
          ["-C", "-u", "frr", "-g", "frr", "-f", z, "-i", join(dir, "z.pid"), "--vty_socket", dir, "-z", join(dir, "zs.api")],
          { encoding: "utf8" },
        );
        assert.doesNotMatch(r2.stdout + r2.stderr, /No such command|Unknown command/i, `${r.name} zebra: ${r2.stderr}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("lab up --bfd: BFD on every session of every kind of router (hosts and spine links), timers as given", () => {
  const f = { ...planFabric("fab", { racks: 1, hosts: 1, tor: "mixed", asModel: "host" }), bfd: { minRx: 100, minTx: 100, multiplier: 3 } };
  const [r1a, r1b] = f.routers;
  const bird = birdConfig(f, r1a!, files);
  assert.match(bird, /protocol bfd \{ interface "\*" \{ min rx interval 100 ms; min tx interval 100 ms; multiplier 3; \}; \}/);
  assert.match(bird, /template bgp host \{[^}]*bfd on;/);
  assert.equal(bird.match(/bfd on/g)!.length, 3, "the host template and the two spine sessions");
  const spine = birdConfig(f, f.routers.find((r) => r.role === "spine")!, files);
  assert.match(spine, /protocol bfd \{/);
  assert.equal(spine.match(/bfd on/g)!.length, 4, "two ToRs, two families");
  const frr = frrConfig(f, r1b!, files);
  assert.match(frr, /^ neighbor 10\.98\.1\.11 bfd 3 100 100$/m);
  assert.match(frr, /^ neighbor 10\.97\.0\.\d+ bfd 3 100 100$/m);
  assert.match(frr, /^ neighbor fd97::\S+ bfd 3 100 100$/m);
  const tabby = tabbyTorConfig(f, { ...r1a!, kind: "tabby" }, { ...files, control: "/x.sock" });
  assert.match(tabby, /address: 10\.98\.1\.11[\s\S]*?bfd:\s+minRx: 100\s+minTx: 100\s+multiplier: 3/);
  assert.equal(tabby.match(/bfd:/g)!.length, 3, "the host and both spine sessions");
  // without --bfd: nothing of it
  const plain = planFabric("fab", { racks: 1, hosts: 1, tor: "mixed", asModel: "host" });
  assert.doesNotMatch(birdConfig(plain, plain.routers[0]!, files) + frrConfig(plain, plain.routers[1]!, files), /bfd/);
});
