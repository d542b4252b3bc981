/**
 * The map (`tabby ui`) in Debian's headless Chromium, on a routed-fabric lab: the page shows every
 * host and router and every host's BGP session as established; an agent killed with SIGKILL turns
 * its host and sessions to down; explain answers through the API and on the page; a screenshot of
 * the map is taken (UPDATE_SCREENSHOT=1 writes it to docs/ui-map.png). Chromium runs with its own profile directory and no network
 * services (the flags below), and only ever loads the loopback address the test's server holds.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CLI, labUnderTest, run, waitFor } from "./helpers.js";
import { fabricStatus } from "./fabric-lab.js";

const { name, env, lab } = labUnderTest("tu", "tabby-ui-map-");
const profile = mkdtempSync(join(tmpdir(), "tabby-ui-chromium-"));
let ui: ChildProcess | undefined;
after(() => {
  if (ui?.pid) ui.kill("SIGTERM");
  rmSync(profile, { recursive: true, force: true });
});

const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  `--user-data-dir=${profile}`,
  "--hide-scrollbars",
];
const SCREENSHOT = fileURLToPath(new URL("../../docs/ui-map.png", import.meta.url));

/** The page after its script ran (a second of virtual time: the first poll and a redraw). */
async function dom(url: string): Promise<string> {
  const r = await run("chromium", [...CHROMIUM_FLAGS, "--virtual-time-budget=2500", "--dump-dom", url]);
  assert.equal(r.code, 0, r.stderr.slice(-2000));
  return r.stdout;
}

function sessions(html: string): Map<string, string> {
  return new Map([...html.matchAll(/data-session="([^"]+)" data-state="([^"]+)"/g)].map((m) => [m[1]!, m[2]!]));
}

test("the map shows the lab and a killed agent's sessions go down", { timeout: 600_000 }, async () => {
  assert.equal((await run("sh", ["-c", "command -v chromium"])).code, 0, "chromium is not installed: scripts/install-deps.sh installs it");
  const up = await lab("up", "--topology", "fabric", "--workloads", "1");
  assert.equal(up.code, 0, up.stdout + up.stderr);
  const status = await fabricStatus(name, env);

  ui = spawn(process.execPath, [CLI, "ui", "--name", name, "--listen", "127.0.0.1:0"], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    ui!.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
      if (m) resolve(m[1]!);
    });
    ui!.once("exit", (code) => reject(new Error(`tabby ui exited ${code}`)));
  });

  let html = "";
  const all = await waitFor(
    async () => {
      html = await dom(url);
      const s = sessions(html);
      return status.hosts.every((h) => [...s].filter(([k, v]) => k.split("|").includes(h.name) && v === "Established").length >= 2);
    },
    20,
    500,
  );
  assert.ok(all, `every host shows its two ToR sessions established:\n${[...sessions(html)].join("\n")}`);
  const tors = status.routers.filter((r) => r.role === "tor");
  assert.equal([...sessions(html)].filter(([, v]) => /not asked/.test(v)).length, tors.length, "the spine's links to each ToR are drawn, as not asked");
  for (const n of [...status.hosts, ...status.routers]) assert.match(html, new RegExp(`data-node="${n.name}" data-up="true"`));
  for (const w of status.workloads) assert.match(html, new RegExp(`data-workload="${w.name}"`));
  assert.match(html, new RegExp(status.workloads[0]!.ipv4.replace(/\./g, "\\.")));

  const ex = await fetch(`${url}api/explain?src=${status.workloads[0]!.name}&dst=${status.workloads.at(-1)!.name}`);
  assert.match(await ex.text(), /the packet arrives/);
  // the page's own explain (what two clicks do), through a link
  const page = await dom(`${url}#explain=${status.workloads[0]!.name},${status.workloads.at(-1)!.name}`);
  assert.match(page, /<pre id="explain">[^<]*the packet arrives/);
  assert.match(page, /class="wl src"/);

  // kill h2's agent (a process this test's lab started): its sessions turn to down on the map
  const h2 = (JSON.parse((await lab("status", "-o", "json")).stdout) as { hosts: { name: string; agentPid: number }[] }).hosts.find((h) => h.name === "h2")!;
  process.kill(h2.agentPid, "SIGKILL");
  const down = await waitFor(
    async () => {
      html = await dom(url);
      const s = [...sessions(html)].filter(([k]) => k.split("|").includes("h2"));
      return /data-node="h2" data-up="false"/.test(html) && s.length >= 2 && s.every(([, v]) => v !== "Established");
    },
    20,
    500,
  );
  assert.ok(down, `h2's sessions are down:\n${[...sessions(html)].join("\n")}`);
  const hostNames = new Set(status.hosts.map((h) => h.name));
  const others = [...sessions(html)].filter(([k]) => !k.split("|").includes("h2") && k.split("|").some((n) => hostNames.has(n)));
  assert.ok(others.length >= 6 && others.every(([, v]) => v === "Established"), "the other hosts' sessions stay established");

  // the screenshot: a PNG always; docs/ui-map.png is rewritten only with UPDATE_SCREENSHOT=1
  const file = process.env.UPDATE_SCREENSHOT ? SCREENSHOT : join(profile, "map.png");
  const shot = await run("chromium", [...CHROMIUM_FLAGS, "--window-size=1400,760", "--virtual-time-budget=2500", `--screenshot=${file}`, url]);
  assert.equal(shot.code, 0, shot.stderr.slice(-2000));
  assert.equal(readFileSync(file).subarray(1, 4).toString(), "PNG");
});
