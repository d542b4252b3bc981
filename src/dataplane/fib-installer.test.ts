// FibInstaller: batches of speaker FIB changes become one `ip -force -batch` each, with exact
// lines; unchanged routes are not re-sent; only installed routes are removed; removeAll on stop.
import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeClock } from "../clock.js";
import { FakeRunner } from "./exec.js";
import { FibInstaller } from "./fib-installer.js";

function setup() {
  const runner = new FakeRunner();
  const clock = new FakeClock();
  const logs: string[] = [];
  const fib = new FibInstaller(runner, clock, (level, msg) => logs.push(`${level} ${msg}`), 20);
  const batches = () => runner.calls.map((c) => [`${c.cmd} ${c.args.join(" ")}`, c.input]);
  return { runner, clock, fib, logs, batches };
}

test("changes within the batch delay go out as one ip -force -batch, ECMP as multipath", async () => {
  const { clock, fib, batches } = setup();
  fib.onChanges([{ prefix: "10.1.0.0/26", nextHops: ["10.99.0.12"] }]);
  fib.onChanges([{ prefix: "fd65::/122", nextHops: ["fd99::12", "fd99::13"] }]);
  assert.equal(batches().length, 0, "nothing before the delay");
  clock.advance(20);
  await fib.flush();
  assert.deepEqual(batches(), [
    [
      "ip -force -batch -",
      "route replace 10.1.0.0/26 via 10.99.0.12 proto 152\nroute replace fd65::/122 proto 152 nexthop via fd99::12 nexthop via fd99::13\n",
    ],
  ]);
  assert.equal(fib.size, 2);
});

test("an unchanged route is not sent again; a removal deletes only what was installed", async () => {
  const { fib, batches } = setup();
  fib.onChanges([{ prefix: "10.1.0.0/26", nextHops: ["10.99.0.12"] }]);
  await fib.flush();
  fib.onChanges([
    { prefix: "10.1.0.0/26", nextHops: ["10.99.0.12"] },
    { prefix: "10.2.0.0/26", nextHops: [] },
  ]);
  await fib.flush();
  assert.equal(batches().length, 1, "same next hop, and a removal of a route never installed: no command");
  fib.onChanges([{ prefix: "10.1.0.0/26", nextHops: [] }]);
  await fib.flush();
  assert.deepEqual(batches()[1], ["ip -force -batch -", "route del 10.1.0.0/26 proto 152\n"]);
  assert.equal(fib.size, 0);
});

test("a refused line is logged and not counted as installed; removeAll takes out what was", async () => {
  const { runner, fib, logs, batches } = setup();
  runner.on("ip -force -batch", { code: 1, stderr: "Error: Nexthop has invalid gateway.\nCommand failed -:1" }, { once: true });
  fib.onChanges([
    { prefix: "10.1.0.0/26", nextHops: ["192.0.2.1"] },
    { prefix: "10.3.0.0/26", nextHops: ["10.99.0.13"] },
  ]);
  await fib.flush();
  assert.ok(logs.some((l) => l.startsWith("warn the kernel refused")));
  assert.equal(fib.size, 1, "only the accepted route is installed");
  await fib.removeAll();
  assert.deepEqual(batches()[1], ["ip -force -batch -", "route del 10.3.0.0/26 proto 152\n"]);
  assert.equal(fib.size, 0);
});

test("with connected networks: next hops off them resolve through other learned routes, and follow them", async () => {
  const runner = new FakeRunner();
  const clock = new FakeClock();
  let connected = ["10.98.1.1/32", "10.98.1.2/32"];
  const fib = new FibInstaller(runner, clock, () => {}, 20, { connected: async () => connected });
  const inputs = () => runner.calls.map((c) => c.input);
  // a block reflected with its originator as next hop, and the route to that originator
  fib.onChanges([
    { prefix: "10.65.1.0/26", nextHops: ["10.98.1.12"] },
    { prefix: "10.98.1.0/24", nextHops: ["10.98.1.1", "10.98.1.2"] },
  ]);
  await fib.flush();
  assert.deepEqual(inputs(), [
    "route replace 10.65.1.0/26 proto 152 nexthop via 10.98.1.1 nexthop via 10.98.1.2\nroute replace 10.98.1.0/24 proto 152 nexthop via 10.98.1.1 nexthop via 10.98.1.2\n",
  ]);
  assert.equal(fib.problems.length, 0);
  // the route underneath changes: the block follows it in the same batch
  fib.onChanges([{ prefix: "10.98.1.0/24", nextHops: ["10.98.1.2"] }]);
  await fib.flush();
  assert.equal(inputs()[1], "route replace 10.98.1.0/24 via 10.98.1.2 proto 152\nroute replace 10.65.1.0/26 via 10.98.1.2 proto 152\n");
  // it goes away: the block is handed to the kernel as learned (which refuses it) and reported
  runner.on("ip -force -batch", { code: 1, stderr: "Error: Nexthop has invalid gateway.\nCommand failed -:2\n" }, { once: true });
  fib.onChanges([{ prefix: "10.98.1.0/24", nextHops: [] }]);
  await fib.flush();
  assert.equal(inputs()[2], "route del 10.98.1.0/24 proto 152\nroute replace 10.65.1.0/26 via 10.98.1.12 proto 152\n");
  assert.deepEqual(
    fib.problems.map((p) => p.dst),
    ["10.65.1.0/26"],
  );
  // the next hop's network becomes connected: everything is looked at again
  connected = [...connected, "10.98.1.0/24"];
  fib.onChanges([{ prefix: "10.70.0.0/24", nextHops: ["10.98.1.1"] }]);
  await fib.flush();
  assert.equal(inputs()[3], "route replace 10.70.0.0/24 via 10.98.1.1 proto 152\nroute replace 10.65.1.0/26 via 10.98.1.12 proto 152\n");
  assert.deepEqual(fib.problems, []);
});

test("with `write`: the same routes go to the writer, in order, no ip process; a refused one is logged and not installed", async () => {
  const runner = new FakeRunner();
  const clock = new FakeClock();
  const logs: string[] = [];
  const seen: string[][] = [];
  const fib = new FibInstaller(runner, clock, (level, msg) => logs.push(`${level} ${msg}`), 20, {
    write: async (writes) => {
      seen.push(writes.map((w) => `${w.op} ${w.route.dst} ${(w.route.via ?? []).join(",")}`));
      return writes.map((w) => (w.route.via?.includes("192.0.2.1") ? { reason: "ENETUNREACH: network is unreachable" } : undefined));
    },
  });
  fib.onChanges([
    { prefix: "10.1.0.0/26", nextHops: ["192.0.2.1"] },
    { prefix: "fd65::/122", nextHops: ["fd99::13", "fd99::12"] },
  ]);
  await fib.flush();
  assert.deepEqual(seen, [["replace 10.1.0.0/26 192.0.2.1", "replace fd65::/122 fd99::13,fd99::12"]]);
  assert.equal(fib.size, 1, "only the accepted route is installed");
  assert.ok(logs.some((l) => l.startsWith("warn the kernel refused")));
  await fib.removeAll();
  assert.deepEqual(seen[1], ["del fd65::/122 fd99::13,fd99::12"]);
  assert.equal(fib.size, 0);
  assert.equal(runner.calls.length, 0);
});
