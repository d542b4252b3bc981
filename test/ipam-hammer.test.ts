/**
 * The IPAM hammer (issue 6): 8 processes standing for 4 hosts allocate and release addresses
 * concurrently through one datastore (SQLite file, then a real etcd), while some are killed with
 * SIGKILL at random moments and restarted. Afterwards no address is held by two handles, no block
 * by two hosts, every release by a survivor freed exactly the address it had been given (a lost
 * compare-and-swap would show there). Then two leak collectors (the controller every agent runs,
 * leader-elected through a lease key; grace 1 s) run until the IPAM data is clean: only one of
 * them may act, every handle a killed process held must be collected, and nothing else; then
 * `tabby ipam check` finds nothing.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { resourceKey } from "../src/model/keys.js";
import { openStore } from "../src/datastore/open.js";
import { readSnapshot } from "../src/ipam/collect.js";
import { IpamGcController } from "../src/ipam/controller.js";
import { checkIpam, problemCount } from "../src/ipam/gc.js";
import { startEtcd, type EtcdServer } from "./etcd-server.js";

const WORKERS = 8;
const HOSTS = 4;
/**
 * Issue 6 asks for 5,000 allocations on both backends. The datastores live on tmpfs (/dev/shm;
 * TABBY_HAMMER_DIR overrides): the hammer is about concurrent compare-and-swap and clients killed
 * mid-write, not the disk (the datastore itself is never killed). 5,000 on SQLite took 9.6 s and
 * 5,000 on etcd 55 s on a quiet 2-core machine (etcd is bound by the gRPC client's CPU, seven calls
 * per allocate + release; 257 s when four other jobs loaded the machine). scripts/run-tests.mjs
 * starts this file first, beside the unit tests, away from the lab's etcd test.
 * TABBY_HAMMER_TOTAL overrides the count on both.
 */
const TOTAL_ENV = process.env.TABBY_HAMMER_TOTAL;
const TOTAL_SQLITE = Number(TOTAL_ENV ?? 5000);
const TOTAL_ETCD = Number(TOTAL_ENV ?? 5000);
const DATA_PARENT = process.env.TABBY_HAMMER_DIR ?? (existsSync("/dev/shm") ? "/dev/shm" : tmpdir());
const KILLS = 6;
const WORKER = new URL("./ipam-hammer-worker.js", import.meta.url).pathname;
const MAIN = new URL("../src/cli/main.js", import.meta.url).pathname;

const v3 = (kind: string, name: string, spec: unknown) => JSON.stringify({ apiVersion: "projectcalico.org/v3", kind, metadata: { name }, spec });

interface Outcome {
  allocated: number;
  killedGens: Set<string>;
  bad: string[];
  /** Handles a killed process had been given and had not begun to release: leaked for sure. */
  leaked: Set<string>;
}

async function hammer(url: string, TOTAL: number): Promise<Outcome> {
  const store = await openStore(url);
  await store.put(resourceKey("IPPool", "hammer"), v3("IPPool", "hammer", { cidr: "10.200.0.0/22", blockSize: 28 }));
  for (let h = 0; h < HOSTS; h++) await store.put(resourceKey("Node", `host${h}`), v3("Node", `host${h}`, {}));
  await store.close();

  const per = Math.ceil(TOTAL / WORKERS);
  const done = new Array<number>(WORKERS).fill(0);
  const out: Outcome = { allocated: 0, killedGens: new Set(), bad: [], leaked: new Set() };
  const live = new Map<number, { pid: number; gen: number; holding: Set<string>; kill: () => void }>();
  let gens = 0;
  const finished = new Array<boolean>(WORKERS).fill(false);
  let resolveAll!: () => void;
  const all = new Promise<void>((r) => (resolveAll = r));

  const start = (w: number) => {
    const gen = gens++;
    const child = spawn(process.execPath, [WORKER, url, `host${w % HOSTS}`, String(w), String(gen), String(per - done[w]!), "seed"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    let sawDone = false;
    const holding = new Set<string>();
    createInterface({ input: child.stdout! }).on("line", (line) => {
      if (line.startsWith("A ")) {
        done[w]!++;
        out.allocated++;
        holding.add(line.split(" ")[1]!);
      } else if (line.startsWith("r ")) holding.delete(line.split(" ")[1]!);
      else if (line.startsWith("BAD")) out.bad.push(`w${w}g${gen}: ${line}`);
      else if (line === "DONE") sawDone = true;
    });
    live.set(w, { pid: child.pid!, gen, holding, kill: () => child.kill("SIGKILL") });
    child.on("close", (code, signal) => {
      live.delete(w);
      if (signal === "SIGKILL") {
        out.killedGens.add(`w${w}g${gen}`);
        for (const h of holding) out.leaked.add(h);
        start(w);
        return;
      }
      if (code !== 0 || !sawDone) out.bad.push(`w${w}g${gen} exited ${code}: ${stderr.slice(-2000)}`);
      finished[w] = true;
      if (finished.every(Boolean)) resolveAll();
    });
  };
  for (let w = 0; w < WORKERS; w++) start(w);
  // Kill a random live worker at random moments while there is work left.
  let kills = 0;
  const killer = (async () => {
    while (kills < KILLS && !finished.every(Boolean)) {
      await new Promise((r) => setTimeout(r, 200 + Math.random() * 1500));
      // A worker that holds addresses, so that the kill leaves something for the collector.
      const candidates = [...live.entries()].filter(([w, l]) => per - done[w]! > 20 && l.holding.size > 0);
      if (candidates.length === 0) continue;
      const [, victim] = candidates[Math.floor(Math.random() * candidates.length)]!;
      victim.kill();
      kills++;
    }
  })();
  await all;
  await killer;
  return out;
}

async function verify(url: string, o: Outcome, TOTAL: number): Promise<void> {
  assert.deepEqual(o.bad, [], "every worker's release freed exactly its own address");
  assert.ok(o.allocated >= TOTAL, `allocated ${o.allocated}`);
  assert.ok(o.killedGens.size > 0, "some workers were killed");
  const store = await openStore(url);
  try {
    const before = checkIpam(await readSnapshot(store));
    assert.deepEqual(before.duplicates, [], "no address held by two handles");
    assert.deepEqual(before.sharedBlocks, [], "no block held by two hosts");
    // Leak collection by the controllers: nothing remains but what killed workers held (no
    // WorkloadEndpoints exist, so every remaining handle is a candidate).
    const collected = new Set<string>();
    const actors = new Set<string>();
    let stopping = false;
    const controllers: { ctl: IpamGcController; close(): Promise<void> }[] = [];
    for (const id of ["gc1", "gc2"]) {
      const s = await openStore(url);
      const ctl = new IpamGcController(s, {
        identity: id,
        graceMs: 1000,
        intervalMs: 250,
        leaseTtlSeconds: 10,
        onPass: (r) => {
          if (stopping) return; // the survivor may take over while the first stops
          actors.add(id);
          for (const h of r.plan.releaseHandles) collected.add(h);
        },
      });
      controllers.push({ ctl, close: () => s.close() });
      ctl.start();
    }
    let afterGc = checkIpam(await readSnapshot(store));
    assert.ok(afterGc.leaks.length > 0, "the killed workers left leaks behind");
    const deadline = Date.now() + 60_000;
    try {
      while ((problemCount(afterGc) > 0 || [...o.leaked].some((h) => !collected.has(h)) || actors.size === 0) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250));
        afterGc = checkIpam(await readSnapshot(store));
      }
    } finally {
      stopping = true;
      for (const c of controllers) await c.ctl.stop();
      for (const c of controllers) await c.close();
    }
    assert.equal(problemCount(afterGc), 0, JSON.stringify(afterGc));
    assert.equal(actors.size, 1, `one collector acted (${[...actors].join(", ")})`);
    for (const h of collected) {
      const gen = /^hammer\.(w\d+g\d+)n\d+$/.exec(h)?.[1];
      assert.ok(gen && o.killedGens.has(gen), `collected handle ${h} belongs to a killed worker`);
    }
    for (const h of o.leaked) assert.ok(collected.has(h), `the collector found ${h}, which a killed worker held`);
  } finally {
    await store.close();
  }
  const cli = spawnSync(process.execPath, [MAIN, "ipam", "check", "--datastore", url], { encoding: "utf8", env: { ...process.env, TABBY_DATASTORE: url } });
  assert.equal(cli.status, 0, cli.stdout + cli.stderr);
  assert.match(cli.stdout, /consistent/);
}

test("hammer: SQLite, 8 processes on 4 hosts, random SIGKILLs", { timeout: 900_000 }, async () => {
  const dir = mkdtempSync(join(DATA_PARENT, "tti2-hammer-"));
  try {
    const url = `sqlite://${join(dir, "tabby.db")}`;
    const o = await hammer(url, TOTAL_SQLITE);
    await verify(url, o, TOTAL_SQLITE);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

let etcd: EtcdServer | undefined;
before(async () => {
  etcd = await startEtcd({ parentDir: DATA_PARENT });
});
after(async () => {
  await etcd?.stop();
});

test("hammer: etcd, 8 processes on 4 hosts, random SIGKILLs", { timeout: 900_000 }, async () => {
  const o = await hammer(etcd!.url, TOTAL_ETCD);
  await verify(etcd!.url, o, TOTAL_ETCD);
});
