// The control socket is private (issue 19): it is created 0600 even under umask 0, a non-root
// user (nobody, through setpriv) cannot connect although it can reach the directory, root can,
// and a world-writable directory is refused before anything listens.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { answer, controlDirProblem, queryControl, serveControl } from "./control.js";

const root = mkdtempSync(join(tmpdir(), "tabby-control-"));
after(() => rmSync(root, { recursive: true, force: true }));
const speaker = { peerStatus: () => [], routes: () => [] };
const isRoot = process.getuid?.() === 0;

test("controlDirProblem: others or a non-root group able to write, or a foreign owner, are problems", () => {
  assert.equal(controlDirProblem("/run/tabby", { mode: 0o40755, uid: 0, gid: 0 }, 0), undefined);
  assert.equal(controlDirProblem("/run/tabby", { mode: 0o40770, uid: 0, gid: 0 }, 0), undefined);
  assert.match(controlDirProblem("/tmp", { mode: 0o41777, uid: 0, gid: 0 }, 0)!, /\/tmp is writable by every user \(mode 1777\)/);
  assert.match(controlDirProblem("/d", { mode: 0o40775, uid: 0, gid: 4 }, 0)!, /writable by group 4/);
  assert.match(controlDirProblem("/d", { mode: 0o40700, uid: 1000, gid: 0 }, 0)!, /owned by uid 1000/);
});

test("the socket is 0600 even under umask 0; nobody cannot connect, root can", { skip: !isRoot && "needs root and setpriv" }, async () => {
  const dir = join(root, "run");
  mkdirSync(dir);
  chmodSync(root, 0o755);
  chmodSync(dir, 0o755);
  const sock = join(dir, "bgp.sock");
  const old = process.umask(0);
  let server;
  try {
    server = await serveControl(speaker, sock);
  } finally {
    process.umask(old);
  }
  try {
    assert.equal(statSync(sock).mode & 0o777, 0o600);
    assert.deepEqual(await queryControl(sock, { op: "peers" }), []);
    const script = `require("net").connect(${JSON.stringify(sock)}).on("connect", () => { console.log("connected"); process.exit(0); }).on("error", (e) => { console.log(e.code); process.exit(0); });`;
    const out = execFileSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, "-e", script], { encoding: "utf8" }).trim();
    assert.equal(out, "EACCES");
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test("a world-writable directory is refused and no socket is made", async () => {
  const dir = join(root, "open");
  mkdirSync(dir);
  chmodSync(dir, 0o1777);
  await assert.rejects(serveControl(speaker, join(dir, "bgp.sock")), { code: "BGP_CONTROL_INSECURE", message: /writable by every user/ });
  assert.equal(existsSync(join(dir, "bgp.sock")), false);
});

test("control: route-problems answers from the agent's extras, and is unknown without them", () => {
  const problems = [{ dst: "10.65.2.0/26", reason: "no route to next hop 10.77.0.1" }];
  assert.deepEqual(answer(speaker, { op: "route-problems" }, { routeProblems: () => problems }), { ok: true, result: problems });
  assert.deepEqual(answer(speaker, { op: "route-problems" }), { ok: false, error: 'unknown op "route-problems"' });
  assert.deepEqual(answer(speaker, { op: "peers" }), { ok: true, result: [] });
});

test("control: memory answers the process's RSS, heap by space and external memory, consistently", () => {
  const speaker = { peerStatus: () => [], routes: () => [] };
  const r = answer(speaker, { op: "memory" });
  assert.equal(r.ok, true);
  const m = (r as { result: { rss: number; heapTotal: number; heapUsed: number; external: number; spaces: Record<string, { size: number; used: number }> } })
    .result;
  assert.ok(m.rss > 0 && m.heapUsed > 0 && m.heapUsed <= m.heapTotal && m.external >= 0);
  for (const name of ["new_space", "old_space"]) assert.ok(m.spaces[name] && m.spaces[name]!.used <= m.spaces[name]!.size, name);
});
