/**
 * The DHCPv4, DHCPv6 and RA answers by golden bytes (annotated), the decoders by property tests
 * (any bytes: a message or NET_DHCP_MALFORMED, nothing else; encode/decode round trips), and the
 * responder's choices (whose request is answered, with what).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { ACK, DISCOVER, NAK, OPT_MSG_TYPE, OPT_REQUESTED_IP, REQUEST, answerDhcp4, decodeDhcp4, encodeDhcp4, type Dhcp4Message } from "./dhcp4.js";
import { OPT_CLIENTID, OPT_IA_NA, OPT_RAPID_COMMIT, SOLICIT, answerDhcp6, decodeDhcp6, encodeDhcp6 } from "./dhcp6.js";
import { encodeRa } from "./ra.js";
import { inetChecksum, ipv4Udp, parseIpPacket } from "./ip-packet.js";
import { ETH_P_IP, ETH_P_IPV6, respond, DEFAULT_RESPONDER_CONFIG } from "./responder.js";
import { ipv6Icmp, ipv6Udp } from "./ip-packet.js";
import { linkLocals } from "./service.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const unhex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+|#[^\n]*/g, ""), "hex"));

function discover(chaddr = "52:54:00:12:34:56", extra: [number, Uint8Array][] = []): Dhcp4Message {
  return {
    op: 1,
    xid: 0x11223344,
    secs: 0,
    flags: 0,
    ciaddr: "0.0.0.0",
    yiaddr: "0.0.0.0",
    siaddr: "0.0.0.0",
    giaddr: "0.0.0.0",
    chaddr,
    options: new Map([[OPT_MSG_TYPE, Uint8Array.of(DISCOVER)], ...extra]),
  };
}

const LEASE4 = { address: "10.65.0.5", gateway: "169.254.1.1", leaseSeconds: 86400, mtu: 1440, dns: ["10.0.0.53"] };

test("DHCPv4 OFFER: golden bytes", () => {
  const r = answerDhcp4(discover(), LEASE4)!;
  assert.equal(r.dst, "10.65.0.5");
  assert.equal(r.broadcast, false);
  const b = encodeDhcp4(r.message);
  assert.equal(b.length, 240 + 66, "the options take it past BOOTP's 300-byte minimum");
  assert.equal(
    hex(b.subarray(0, 44)),
    hex(
      unhex(`
      02 01 06 00            # op BOOTREPLY, htype Ethernet, hlen 6, hops 0
      11223344               # xid
      0000 0000              # secs, flags
      00000000               # ciaddr
      0a410005               # yiaddr 10.65.0.5
      00000000 00000000      # siaddr, giaddr
      525400123456 00000000000000000000  # chaddr (16 bytes)
    `),
    ),
  );
  assert.equal(hex(b.subarray(236, 240)), "63825363", "magic cookie");
  assert.equal(
    hex(b.subarray(240)),
    hex(
      unhex(`
      35 01 02               # 53 message type: OFFER
      36 04 a9fe0101         # 54 server identifier 169.254.1.1
      33 04 00015180         # 51 lease 86400 s
      3a 04 0000a8c0         # 58 renewal 43200 s
      3b 04 00012750         # 59 rebinding 75600 s
      01 04 ffffffff         # 1 subnet mask /32
      03 04 a9fe0101         # 3 router 169.254.1.1
      79 0e 20 a9fe0101 00000000  00 a9fe0101   # 121: 169.254.1.1/32 on-link; 0/0 via 169.254.1.1
      06 04 0a000035         # 6 DNS 10.0.0.53
      1a 02 05a0             # 26 MTU 1440
      ff                     # end
    `),
    ),
  );
  assert.deepEqual(decodeDhcp4(b).options.get(121), unhex("20a9fe0101 00000000 00 a9fe0101"));
});

test("DHCPv4 REQUEST: ACK for the workload's address, NAK for another, silence for another server", () => {
  const req = (ip: string, server = "169.254.1.1") => {
    const m = discover();
    m.options.set(OPT_MSG_TYPE, Uint8Array.of(REQUEST));
    m.options.set(OPT_REQUESTED_IP, Uint8Array.from(ip.split(".").map(Number)));
    m.options.set(54, Uint8Array.from(server.split(".").map(Number)));
    return m;
  };
  assert.equal(answerDhcp4(req("10.65.0.5"), LEASE4)!.message.options.get(OPT_MSG_TYPE)![0], ACK);
  const nak = answerDhcp4(req("10.65.0.6"), LEASE4)!;
  assert.equal(nak.message.options.get(OPT_MSG_TYPE)![0], NAK);
  assert.equal(nak.dst, "255.255.255.255");
  assert.equal(nak.message.yiaddr, "0.0.0.0");
  assert.equal(answerDhcp4(req("10.65.0.5", "10.0.0.1"), LEASE4), undefined);
});

test("DHCPv4 decoder: any bytes give a message or NET_DHCP_MALFORMED; messages round-trip", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
      try {
        decodeDhcp4(bytes);
      } catch (e) {
        assert.equal((e as { code?: string }).code, "NET_DHCP_MALFORMED");
      }
    }),
    { numRuns: 2000 },
  );
  const ip = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((t) => t.join("."));
  const mac = fc.uint8Array({ minLength: 6, maxLength: 6 }).map((b) => [...b].map((x) => x.toString(16).padStart(2, "0")).join(":"));
  const opts = fc.uniqueArray(fc.tuple(fc.integer({ min: 1, max: 254 }), fc.uint8Array({ maxLength: 600 })), { selector: (t) => t[0], maxLength: 6 });
  fc.assert(
    fc.property(
      fc.record({ xid: fc.nat(0xffffffff), secs: fc.nat(0xffff), flags: fc.nat(0xffff), ciaddr: ip, yiaddr: ip, siaddr: ip, giaddr: ip, chaddr: mac }),
      fc.constantFrom<1 | 2>(1, 2),
      opts,
      (f, op, o) => {
        const m: Dhcp4Message = { op, ...f, options: new Map(o) };
        const back = decodeDhcp4(encodeDhcp4(m));
        assert.deepEqual({ ...back, options: [...back.options] }, { ...m, options: [...m.options] });
      },
    ),
    { numRuns: 300 },
  );
  // also with a whole parsed packet around it: a valid UDP/IPv4 wrapper parses back
  const pkt = parseIpPacket(ipv4Udp("0.0.0.0", "255.255.255.255", 68, 67, encodeDhcp4(discover())));
  assert.equal(pkt.dstPort, 67);
  assert.equal(inetChecksum(ipv4Udp("1.2.3.4", "5.6.7.8", 1, 2, Uint8Array.of(1, 2, 3)).subarray(0, 20)), 0xffff, "IPv4 header checksum verifies");
});

const SERVER_MAC = "ee:ee:ee:ee:ee:ee";
const LEASE6 = { address: "fd65::5", serverMac: SERVER_MAC, preferredSeconds: 3600, validSeconds: 3600, dns: ["fd00::53"] };

test("DHCPv6 Solicit with Rapid Commit: golden Reply", () => {
  const solicit = {
    type: SOLICIT,
    xid: 0x02fae7,
    options: [
      { code: OPT_CLIENTID, data: unhex("0001 0001 32a8cb0b 525400123456") },
      { code: OPT_RAPID_COMMIT, data: new Uint8Array(0) },
      { code: OPT_IA_NA, data: unhex("00123456 00000000 00000000") },
    ],
  };
  const reply = encodeDhcp6(answerDhcp6(decodeDhcp6(encodeDhcp6(solicit)), LEASE6)!);
  assert.equal(
    hex(reply),
    hex(
      unhex(`
      07 02fae7                                   # Reply, xid
      0002 000a 0003 0001 eeeeeeeeeeee            # server id: DUID-LL of the host MAC
      0001 000e 0001 0001 32a8cb0b 525400123456   # client id echoed
      000e 0000                                   # rapid commit
      0003 0028 00123456 00000708 00000b40        # IA_NA: the client's IAID, T1 1800, T2 2880
        0005 0018 fd650000000000000000000000000005 00000e10 00000e10   # IAADDR fd65::5, 3600/3600
      0017 0010 fd000000000000000000000000000053  # DNS servers fd00::53
    `),
    ),
  );
  assert.equal(
    answerDhcp6({ ...solicit, options: solicit.options.filter((o) => o.code !== OPT_CLIENTID) }, LEASE6),
    undefined,
    "a Solicit without client id is dropped",
  );
  assert.equal(
    answerDhcp6({ ...solicit, options: solicit.options.filter((o) => o.code !== OPT_RAPID_COMMIT) }, LEASE6)!.type,
    2,
    "Advertise without rapid commit",
  );
});

test("DHCPv6 decoder: any bytes give a message or NET_DHCP_MALFORMED", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      try {
        const m = decodeDhcp6(bytes);
        assert.deepEqual(encodeDhcp6(m), bytes, "what decodes re-encodes to the same bytes");
      } catch (e) {
        assert.equal((e as { code?: string }).code, "NET_DHCP_MALFORMED");
      }
    }),
    { numRuns: 2000 },
  );
});

test("router advertisement: golden bytes (M and O, no prefix, MTU, RDNSS)", () => {
  assert.equal(
    hex(encodeRa({ mac: SERVER_MAC, lifetime: 1800, mtu: 1440, dns: ["fd00::53"] })),
    hex(
      unhex(`
      86 00 0000             # type 134, code 0, checksum (filled by ip-packet)
      40 c0 0708             # cur hop limit 64, flags M|O, router lifetime 1800
      00000000 00000000      # reachable, retrans timer
      01 01 eeeeeeeeeeee     # source link-layer address
      05 01 0000 000005a0    # MTU 1440
      19 03 0000 00001518 fd000000000000000000000000000053   # RDNSS, lifetime 5400
    `),
    ),
  );
});

test("responder: answers the endpoint's MAC only, on the right family, from the host's link-local", () => {
  const ep = { ipNetworks: ["10.65.0.5/32", "fd65::5/128"], mac: "52:54:00:12:34:56" };
  const link = { mac: SERVER_MAC, linkLocal: "fe80::ecee:eeff:feee:eeee", mtu: 1500 };
  const pkt4 = ipv4Udp("0.0.0.0", "255.255.255.255", 68, 67, encodeDhcp4(discover()));
  const [a] = respond({ proto: ETH_P_IP, mac: "52:54:00:12:34:56", packet: pkt4 }, ep, link, DEFAULT_RESPONDER_CONFIG);
  assert.ok(a);
  const p = parseIpPacket(a.packet);
  assert.deepEqual([a.mac, p.src, p.dst, p.srcPort, p.dstPort], ["52:54:00:12:34:56", "169.254.1.1", "10.65.0.5", 67, 68]);
  assert.deepEqual(
    respond({ proto: ETH_P_IP, mac: "52:54:00:00:00:99", packet: pkt4 }, ep, link, DEFAULT_RESPONDER_CONFIG),
    [],
    "another MAC on the tap is not answered",
  );
  assert.deepEqual(
    respond({ proto: ETH_P_IP, mac: "52:54:00:12:34:56", packet: pkt4 }, { ipNetworks: ["fd65::5/128"] }, link, DEFAULT_RESPONDER_CONFIG),
    [],
    "no IPv4 address: no offer",
  );
  // router solicitation from the client's link-local → RA back to it, from the host's link-local
  const rs = ipv6Icmp("fe80::5054:ff:fe12:3456", "ff02::2", Uint8Array.of(133, 0, 0, 0, 0, 0, 0, 0));
  const [ra] = respond({ proto: ETH_P_IPV6, mac: "52:54:00:12:34:56", packet: rs }, ep, link, DEFAULT_RESPONDER_CONFIG);
  assert.ok(ra);
  const q = parseIpPacket(ra.packet);
  assert.deepEqual([q.src, q.dst, q.hopLimit, q.payload[0]], ["fe80::ecee:eeff:feee:eeee", "fe80::5054:ff:fe12:3456", 255, 134]);
  const solicit = ipv6Udp(
    "fe80::5054:ff:fe12:3456",
    "ff02::1:2",
    546,
    547,
    encodeDhcp6({ type: SOLICIT, xid: 1, options: [{ code: OPT_CLIENTID, data: Uint8Array.of(0, 3, 0, 1, 1, 2, 3, 4, 5, 6) }] }),
  );
  const [adv] = respond({ proto: ETH_P_IPV6, mac: "52:54:00:12:34:56", packet: solicit }, ep, link, DEFAULT_RESPONDER_CONFIG);
  assert.equal(decodeDhcp6(parseIpPacket(adv!.packet).payload).type, 2);
  assert.deepEqual(
    respond({ proto: ETH_P_IPV6, mac: "52:54:00:12:34:56", packet: rs }, ep, { mac: SERVER_MAC }, DEFAULT_RESPONDER_CONFIG),
    [],
    "no link-local: no IPv6 answers",
  );
});

test("/proc/net/if_inet6: link-local addresses by interface", () => {
  const text =
    "fe8000000000000088adb5fffefc0365 02 40 20 80   tapvmp\nfd650000000000000000000000000005 03 80 00 80 eth0\nfe80000000000000ecee00fffe000000 04 40 20 80 tab1\n";
  assert.deepEqual(
    [...linkLocals(text)],
    [
      ["tapvmp", "fe80::88ad:b5ff:fefc:365"],
      ["tab1", "fe80::ecee:ff:fe00:0"],
    ],
  );
});

test("responder: any frame gives answers or NET_DHCP_MALFORMED, never another error", () => {
  const ep = { ipNetworks: ["10.65.0.5/32", "fd65::5/128"] };
  const link = { mac: SERVER_MAC, linkLocal: "fe80::1", mtu: 1500 };
  // random bytes, and random bytes behind valid IPv4/IPv6 UDP headers to the DHCP ports
  const frames = fc.oneof(
    fc.record({ proto: fc.constantFrom(ETH_P_IP, ETH_P_IPV6), packet: fc.uint8Array({ maxLength: 400 }) }),
    fc.uint8Array({ maxLength: 400 }).map((b) => ({ proto: ETH_P_IP, packet: ipv4Udp("0.0.0.0", "255.255.255.255", 68, 67, b) })),
    fc.uint8Array({ maxLength: 400 }).map((b) => ({ proto: ETH_P_IPV6, packet: ipv6Udp("fe80::2", "ff02::1:2", 546, 547, b) })),
    fc.uint8Array({ maxLength: 100 }).map((b) => ({ proto: ETH_P_IPV6, packet: ipv6Icmp("fe80::2", "ff02::2", Uint8Array.from([133, 0, 0, 0, ...b])) })),
  );
  fc.assert(
    fc.property(frames, (f) => {
      try {
        for (const a of respond({ ...f, mac: "52:54:00:00:00:01" }, ep, link, DEFAULT_RESPONDER_CONFIG)) parseIpPacket(a.packet);
      } catch (e) {
        assert.equal((e as { code?: string }).code, "NET_DHCP_MALFORMED", String(e));
      }
    }),
    { numRuns: 3000 },
  );
});

test("agent hook: VMs only, DNS and domain from FelixConfiguration", async () => {
  const { responderConfig, servesEndpoint } = await import("./agent-hook.js");
  assert.deepEqual(
    [
      servesEndpoint({ orchestrator: "libvirt" }),
      servesEndpoint({ orchestrator: "openstack" }),
      servesEndpoint({ orchestrator: "k8s" }),
      servesEndpoint({}),
      servesEndpoint(undefined),
    ],
    [true, true, false, false, false],
  );
  assert.deepEqual(responderConfig({ workloadDHCPDNSServers: ["10.0.0.53", "fd00::53"], workloadDHCPDomain: "vms.example" }), {
    ...DEFAULT_RESPONDER_CONFIG,
    dns: ["10.0.0.53", "fd00::53"],
    domain: "vms.example",
  });
  assert.deepEqual(responderConfig({}), DEFAULT_RESPONDER_CONFIG);
});
