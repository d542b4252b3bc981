// The explain API's doors (issue 19): mutual TLS with the configured CA only, read-only ops,
// bound to the address given. Real certificates from the lab's PKI code (openssl), real sockets
// on loopback.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as https from "node:https";
import * as net from "node:net";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeLabPki, type LabPki } from "../lab/pki.js";
import { boundAddress, EXPLAIN_API_PATH, parseListen, queryExplainApi, serveExplainApi } from "./api.js";

const dir = mkdtempSync(join(tmpdir(), "tabby-explain-api-"));
let good: LabPki;
let other: LabPki;
let server: https.Server;
let port: number;
const asked: unknown[] = [];

before(async () => {
  good = makeLabPki(join(dir, "good"), "good", []);
  other = makeLabPki(join(dir, "other"), "other", []);
  const speaker = { peerStatus: () => [{ peer: "192.0.2.1", state: "Established" }], routes: () => [] as never[], requestRefresh: () => 1 };
  server = await serveExplainApi({ host: "127.0.0.1", port: 0 }, { ca: good.ca, cert: good.server.cert, key: good.server.key }, speaker as never, {
    routeProblems: () => [],
    explainRoute: async (req) => {
      asked.push(req);
      return { dst: (req as { dst: string }).dst, chosen: { dev: "eth0" } };
    },
  });
  port = boundAddress(server).port;
});
after(() => {
  server?.close();
  rmSync(dir, { recursive: true, force: true });
});

const creds = (p: LabPki, client = p.clients.admin) => ({ ca: readFileSync(good.ca), cert: readFileSync(client.cert), key: readFileSync(client.key) });

test("a client certificate from the configured CA gets the control socket's answers", async () => {
  const at = { host: "127.0.0.1", port };
  assert.deepEqual(await queryExplainApi(at, creds(good), { op: "peers" }), [{ peer: "192.0.2.1", state: "Established" }]);
  assert.deepEqual(await queryExplainApi(at, creds(good), { op: "explain-route", dst: "10.0.0.1" }), { dst: "10.0.0.1", chosen: { dev: "eth0" } });
  assert.deepEqual(asked, [{ op: "explain-route", dst: "10.0.0.1" }]);
  assert.deepEqual(await queryExplainApi(at, creds(good), { op: "route-problems" }), []);
});

test("read-only: ops that change something (refresh) or are not explain's are refused", async () => {
  const at = { host: "127.0.0.1", port };
  await assert.rejects(
    queryExplainApi(at, creds(good), { op: "refresh" }),
    (e: Error & { code?: string }) => e.code === "CLI_EXPLAIN_AGENT_ERROR" && /read-only/.test(e.message),
  );
  await assert.rejects(queryExplainApi(at, creds(good), { op: "flows" }), /read-only/);
});

test("no client certificate: the handshake fails, nothing is answered", async () => {
  const got = await new Promise<string>((resolve) => {
    const req = https.request({ host: "127.0.0.1", port, method: "POST", path: EXPLAIN_API_PATH, ca: readFileSync(good.ca), agent: false }, (res) =>
      resolve(`answered ${res.statusCode}`),
    );
    req.on("error", (e) => resolve(`error: ${e.message}`));
    req.end(JSON.stringify({ op: "peers" }));
  });
  assert.match(got, /^error:/);
});

test("a client certificate from another CA is refused", async () => {
  const foreign = { ca: readFileSync(good.ca), cert: readFileSync(other.clients.admin.cert), key: readFileSync(other.clients.admin.key) };
  await assert.rejects(
    queryExplainApi({ host: "127.0.0.1", port }, foreign, { op: "peers" }),
    (e: Error & { code?: string }) => e.code === "CLI_EXPLAIN_AGENT_UNREACHABLE",
  );
});

test("the client checks the agent too: a server from another CA is refused", async () => {
  const wrongCa = { ca: readFileSync(other.ca), cert: readFileSync(good.clients.admin.cert), key: readFileSync(good.clients.admin.key) };
  await assert.rejects(
    queryExplainApi({ host: "127.0.0.1", port }, wrongCa, { op: "peers" }),
    (e: Error & { code?: string }) => e.code === "CLI_EXPLAIN_AGENT_UNREACHABLE",
  );
});

test("bound to the address given only", async () => {
  assert.deepEqual(boundAddress(server), { host: "127.0.0.1", port });
  // 127.0.0.2 is this machine too (all of 127/8 is loopback), but nothing listens there
  const refused = await new Promise<string>((resolve) => {
    const s = net.connect({ host: "127.0.0.2", port }, () => {
      s.destroy();
      resolve("connected");
    });
    s.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
  assert.equal(refused, "ECONNREFUSED");
});

test("--explain-listen takes IP:PORT or [IPv6]:PORT only", () => {
  assert.deepEqual(parseListen("192.0.2.1:9095"), { host: "192.0.2.1", port: 9095 });
  assert.deepEqual(parseListen("[fd00::1]:9095"), { host: "fd00::1", port: 9095 });
  for (const bad of ["9095", "host.example:9095", "192.0.2.1", "192.0.2.1:0", "fd00::1:9095"]) assert.throws(() => parseListen(bad), /IP:PORT/);
});

test("node run: the explain API is off unless --explain-listen, and then needs all three TLS files", async () => {
  const { explainApiConfig } = await import("../cli/node-run.js");
  assert.equal(explainApiConfig({}), undefined);
  assert.throws(() => explainApiConfig({ "explain-tls-ca": "ca.pem" }), /--explain-tls-ca without --explain-listen/);
  assert.throws(() => explainApiConfig({ "explain-listen": "10.0.0.1:9095", "explain-tls-ca": "ca.pem" }), /missing --explain-tls-cert, --explain-tls-key/);
  assert.deepEqual(explainApiConfig({ "explain-listen": "10.0.0.1:9095", "explain-tls-ca": "c", "explain-tls-cert": "s", "explain-tls-key": "k" }), {
    listen: { host: "10.0.0.1", port: 9095 },
    tls: { ca: "c", cert: "s", key: "k" },
  });
});
