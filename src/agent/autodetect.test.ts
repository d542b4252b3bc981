import { test } from "node:test";
import assert from "node:assert/strict";
import { firstFoundAddress } from "./autodetect.js";

test("first-found autodetection skips loopback, workload veths, down links and link-local", () => {
  const links = [
    { ifname: "lo", flags: ["UP"], addr_info: [{ family: "inet", local: "127.0.0.1", prefixlen: 8, scope: "host" }] },
    { ifname: "tab0123456789a", flags: ["UP"], addr_info: [{ family: "inet", local: "10.65.0.1", prefixlen: 32, scope: "global" }] },
    { ifname: "eth1", flags: ["BROADCAST"], addr_info: [{ family: "inet", local: "10.1.0.1", prefixlen: 24, scope: "global" }] },
    {
      ifname: "eth0",
      flags: ["UP"],
      addr_info: [
        { family: "inet6", local: "fe80::1", prefixlen: 64, scope: "link" },
        { family: "inet", local: "10.99.0.11", prefixlen: 24, scope: "global" },
        { family: "inet6", local: "fd99::b", prefixlen: 64, scope: "global" },
      ],
    },
  ];
  assert.equal(firstFoundAddress(links, 4), "10.99.0.11/24");
  assert.equal(firstFoundAddress(links, 6), "fd99::b/64");
  assert.equal(firstFoundAddress([], 4), undefined);
});

test("first-found skips every interfacePrefix prefix, not just tab", () => {
  const up = (ifname: string, local: string) => ({ ifname, flags: ["UP"], addr_info: [{ family: "inet", local, prefixlen: 24, scope: "global" }] });
  const links = [up("tap0", "10.7.0.1"), up("vnet3", "10.8.0.1"), up("tab1", "10.6.0.1"), up("eth0", "10.99.0.11")];
  assert.equal(firstFoundAddress(links, 4), "10.7.0.1/24", "the default skips tab only");
  assert.equal(firstFoundAddress(links, 4, ["tab", "tap", "vnet"]), "10.99.0.11/24");
  assert.equal(firstFoundAddress(links, 4, ["tap"]), "10.8.0.1/24", "only the prefixes given are skipped");
});
