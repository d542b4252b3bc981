import { test } from "node:test";
import assert from "node:assert/strict";
import type { ConfigUpdate } from "../policy-output.js";
import { ConfigCalculator } from "./config.js";
import { decodeUpdate } from "./decode.js";
import type { DataplaneSink } from "./sequencer.js";

test("config stage: IPPools with natOutgoing fill ConfigUpdate.natOutgoing", () => {
  const got: ConfigUpdate[] = [];
  const sink = { configUpdated: (c: ConfigUpdate) => got.push(c) } as unknown as DataplaneSink;
  const calc = new ConfigCalculator("h1", sink);
  assert.equal(got.at(-1)!.natOutgoing, undefined);
  const pool = (name: string, spec: object) => {
    const key = `/calico/resources/v3/projectcalico.org/ippools/${name}`;
    const d = decodeUpdate(key, JSON.stringify({ apiVersion: "projectcalico.org/v3", kind: "IPPool", metadata: { name }, spec }));
    assert.equal(d?.kind, "IPPool");
    if (d?.kind === "IPPool") calc.onIPPool(d.name, d.value);
  };
  pool("a", { cidr: "10.65.0.0/16", natOutgoing: true });
  pool("b", { cidr: "10.66.0.0/16" });
  pool("c", { cidr: "fd65::/64", natOutgoing: true });
  assert.deepEqual(got.at(-1)!.natOutgoing, { natPools: ["10.65.0.0/16", "fd65::/64"], allPools: ["10.65.0.0/16", "10.66.0.0/16", "fd65::/64"] });
  const n = got.length;
  pool("b", { cidr: "10.66.0.0/16" });
  assert.equal(got.length, n, "an unchanged pool emits nothing");
  calc.onIPPool("a", undefined);
  calc.onIPPool("c", undefined);
  assert.equal(got.at(-1)!.natOutgoing, undefined, "no natOutgoing pool: no NAT");
});

test("config stage: a stored failsafe entry with a quoted port keeps the port open (never dropped)", () => {
  const got: ConfigUpdate[] = [];
  const sink = { configUpdated: (c: ConfigUpdate) => got.push(c) } as unknown as DataplaneSink;
  const calc = new ConfigCalculator("h1", sink);
  calc.onFelixConfiguration("default", {
    failsafeInboundHostPorts: [
      { protocol: "tcp", port: "22" },
      { protocol: "UDP", port: 68 },
    ],
  });
  assert.deepEqual(got.at(-1)!.failsafeInbound, [
    { protocol: "tcp", port: 22 },
    { protocol: "udp", port: 68 },
  ]);
});
