import { test } from "node:test";
import assert from "node:assert/strict";
import { healthReport } from "./checks.js";
import { observabilityConfig } from "./config.js";
import { DatastoreProbe } from "./datastore-probe.js";
import { FakeClock } from "../clock.js";
import type { AgentHealthInputs } from "../agent/agent.js";

const base: AgentHealthInputs = { sync: "in-sync", programmed: true, peersConfigured: 2, peersEstablished: 1, lastErrors: {} };
const state = (h: AgentHealthInputs, probe?: { ok: boolean; detail?: string }) =>
  healthReport(h, probe, 1_000_000)
    .checks.map((c) => `${c.name}:${c.ok ? "ok" : "fail"}`)
    .join(" ");

test("readiness over an agent's life: wait → resync → programmed → peer up → datastore frozen → back", () => {
  const seq: [AgentHealthInputs, { ok: boolean; detail?: string } | undefined][] = [
    [{ ...base, sync: "wait-for-datastore", programmed: false, peersConfigured: 0, peersEstablished: 0 }, undefined],
    [{ ...base, sync: "resync", programmed: false, peersConfigured: 0, peersEstablished: 0 }, { ok: true }],
    [{ ...base, programmed: false, peersEstablished: 0 }, { ok: true }],
    [{ ...base, peersEstablished: 0 }, { ok: true }],
    [base, { ok: true }],
    [base, { ok: false, detail: "no answer within 2000 ms" }],
    [base, { ok: true }],
  ];
  assert.deepEqual(
    seq.map(([h, p]) => `${healthReport(h, p, 0).ready ? "READY" : "not"} ${state(h, p)}`),
    [
      "not datastore:fail dataplane:fail bgp:ok",
      "not datastore:fail dataplane:fail bgp:ok",
      "not datastore:ok dataplane:fail bgp:fail",
      "not datastore:ok dataplane:ok bgp:fail",
      "READY datastore:ok dataplane:ok bgp:ok",
      "not datastore:fail dataplane:ok bgp:ok",
      "READY datastore:ok dataplane:ok bgp:ok",
    ],
  );
  // liveness never depends on the datastore
  assert.equal(healthReport({ ...base, sync: "resync" }, { ok: false }, 0).live, true);
});

test("readiness: no peers configured is fine; details and last errors (with age) are in the report", () => {
  const r = healthReport(
    { ...base, peersConfigured: 0, peersEstablished: 0, lastErrors: { bgp: { message: "boom", at: 990_000 } } },
    { ok: false, detail: "DS_UNAVAILABLE: etcd" },
    1_000_000,
  );
  assert.equal(r.ready, false);
  assert.deepEqual(r.checks, [
    { name: "datastore", ok: false, detail: "in sync, but the datastore does not answer: DS_UNAVAILABLE: etcd" },
    { name: "dataplane", ok: true, detail: "programmed" },
    { name: "bgp", ok: true, detail: "no peers configured", lastError: { message: "boom", ageSeconds: 10 } },
  ]);
  assert.equal(healthReport(base, undefined, 0).checks[2]!.detail, "1 of 2 peers Established");
});

test("endpoint config: Felix's fields merged default then node; loopback and Felix's ports by default", () => {
  assert.deepEqual(observabilityConfig([]), { health: { host: "127.0.0.1", port: 9099 } });
  assert.deepEqual(observabilityConfig([{ prometheusMetricsEnabled: true }, undefined]), {
    metrics: { host: "127.0.0.1", port: 9091 },
    health: { host: "127.0.0.1", port: 9099 },
  });
  assert.deepEqual(
    observabilityConfig([
      { prometheusMetricsEnabled: true, prometheusMetricsPort: 9200, healthHost: "10.0.0.1" },
      { prometheusMetricsHost: "::1", healthEnabled: false },
    ]),
    { metrics: { host: "::1", port: 9200 } },
  );
  // the node's own FelixConfiguration turns off what default turned on
  assert.deepEqual(observabilityConfig([{ prometheusMetricsEnabled: true }, { prometheusMetricsEnabled: false }]).metrics, undefined);
});

test("datastore probe: an answer is ok, an error or silence past the deadline is not", async () => {
  const clock = new FakeClock();
  let mode: "ok" | "err" | "hang" = "ok";
  const store = {
    get: () => (mode === "ok" ? Promise.resolve(undefined) : mode === "err" ? Promise.reject(new Error("DS_UNAVAILABLE")) : new Promise<undefined>(() => {})),
  };
  const p = new DatastoreProbe(store, clock, { timeoutMs: 2000 });
  assert.deepEqual(await p.probeOnce(), { ok: true });
  mode = "err";
  assert.deepEqual(await p.probeOnce(), { ok: false, detail: "Error: DS_UNAVAILABLE" });
  mode = "hang";
  const pending = p.probeOnce();
  await Promise.resolve();
  clock.advance(2000);
  assert.deepEqual(await pending, { ok: false, detail: "no answer within 2000 ms" });
  assert.deepEqual(p.state(), { ok: false, detail: "no answer within 2000 ms" });
});
