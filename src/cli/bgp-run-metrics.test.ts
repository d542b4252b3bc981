// `tabby bgp run` config `metrics: {address, port}`: checked, and honoured — a real speaker
// serves its BGP families on the address given (loopback, a port the kernel picked).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { parseConfig } from "./bgp-run.js";
import { freePort } from "../testkit/free-port.js";

const cfg = (m: string) => parseConfig(`routerId: 1.2.3.4\nasNumber: 1\nmetrics: ${m}`).metrics;

test("metrics: a mapping of address and port; anything else is refused by name", () => {
  assert.deepEqual(cfg("{ address: 127.0.0.1, port: 9191 }"), { address: "127.0.0.1", port: 9191 });
  assert.deepEqual(cfg("{}"), {});
  assert.throws(() => cfg("{ address: localhost }"), /metrics: address must be an IP address/);
  assert.throws(() => cfg("{ port: 0 }"), /metrics: port must be 1-65535/);
  assert.throws(() => cfg("{ path: /m }"), /metrics: unknown key path/);
  assert.throws(() => cfg("true"), /metrics is a mapping/);
});

const dir = mkdtempSync(join(tmpdir(), "tabby-bgprun-metrics-"));
let pid: number | undefined;
after(() => {
  if (pid !== undefined) {
    try {
      process.kill(pid, "SIGTERM");
    } catch {
      /* gone */
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

test("bgp run serves /metrics where the config says", async () => {
  const port = await freePort();
  const conf = join(dir, "speaker.yaml");
  // a peer that never answers (connect-only to a closed loopback port): the session stays down
  writeFileSync(
    conf,
    `routerId: 10.0.0.1\nasNumber: 64512\nlisten: false\ncontrol: ${join(dir, "bgp.sock")}\nmetrics: { address: 127.0.0.1, port: ${port} }\npeers:\n  - { address: 127.0.0.1, asNumber: 64512, port: 1 }\n`,
  );
  const main = fileURLToPath(new URL("./main.js", import.meta.url));
  const child = spawn(process.execPath, [main, "bgp", "run", "-c", conf], { stdio: "ignore" });
  pid = child.pid;
  let text = "";
  for (let i = 0; i < 100 && !text.includes("tabby_bgp_peer_up"); i++) {
    await sleep(100);
    text = await fetch(`http://127.0.0.1:${port}/metrics`).then(
      (r) => r.text(),
      () => "",
    );
  }
  assert.match(text, /^tabby_bgp_peer_up\{peer="127\.0\.0\.1",peer_as="64512",type="explicit"\} 0$/m);
  assert.match(text, /^tabby_bgp_sessions\{state="Established"\} 0$/m);
  assert.match(text, /^tabby_bgp_peer_flaps_total\{peer="127\.0\.0\.1",peer_as="64512",type="explicit"\} 0$/m);
  assert.match(text, /^# TYPE tabby_bfd_sessions gauge$/m);
  assert.match(text, /^process_cpu_seconds_total \d/m);
  child.kill("SIGTERM");
  await new Promise((r) => child.once("exit", r));
  pid = undefined;
});

test("bgp run takes SIGTERM from the moment its control socket exists: a clean stop, exit 0", async () => {
  const conf = join(dir, "signal.yaml");
  const sock = join(dir, "signal.sock");
  writeFileSync(conf, `routerId: 10.0.0.2\nasNumber: 64512\nlisten: false\ncontrol: ${sock}\n`);
  const main = fileURLToPath(new URL("./main.js", import.meta.url));
  const child = spawn(process.execPath, [main, "bgp", "run", "-c", conf], { stdio: "ignore" });
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((r) => child.once("exit", (code, sig) => r([code, sig])));
  // a supervisor that waits for the socket file and signals at once: poll as tightly as we can
  for (let i = 0; i < 20000 && !existsSync(sock); i++) await sleep(1);
  assert.ok(existsSync(sock), "the control socket never appeared");
  child.kill("SIGTERM");
  assert.deepEqual(await exited, [0, null], "killed by the signal instead of stopping cleanly");
});
