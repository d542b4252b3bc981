import { test } from "node:test";
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { run, caretLines, parseLabelList } from "./selector.js";
import type { CliIO } from "./command.js";

async function call(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  let err = "";
  stdout.on("data", (d: Buffer) => (out += d.toString()));
  stderr.on("data", (d: Buffer) => (err += d.toString()));
  const io: CliIO = { stdout, stderr, env: {} };
  const code = await run(argv, io);
  return { code, out, err };
}

test("matches labels: prints true/false, exit 0", async () => {
  assert.deepEqual(await call([`app == "web" && !has(canary)`, "--labels", "app=web,tier=fe"]), { code: 0, out: "true\n", err: "" });
  assert.deepEqual(await call([`app == "web" && !has(canary)`, "--labels", "app=web,canary=1"]), { code: 0, out: "false\n", err: "" });
  assert.deepEqual(await call([`env != "prod"`, "--labels", ""]), { code: 0, out: "true\n", err: "" });
  assert.deepEqual(await call([`has(a) && has(b)`, "--labels", "a=1", "--labels", "b=2"]), { code: 0, out: "true\n", err: "" });
});

test("-o json carries the canonical form and unique ID", async () => {
  const r = await call(["! (has( b)||! has(a ))", "--labels", "a=x", "-o", "json"]);
  assert.equal(r.code, 0);
  assert.deepEqual(JSON.parse(r.out), {
    input: "! (has( b)||! has(a ))",
    selector: "!(has(b) || !has(a))",
    uniqueId: "s:Iss0uCleLYv1GSv_pNm7hAO58kE9jAx1NKyG3Q",
    labels: { a: "x" },
    matches: true,
  });
});

test("without --labels: canonical form and unique ID", async () => {
  assert.deepEqual(await call([""]), { code: 0, out: "all()\ns:5y5I3VdRZfDU01O--xXAPx2yxCQQqMf0M6IWug\n", err: "" });
});

test("parse error: input with a caret under the position, exit 1", async () => {
  const r = await call([`a = "b"`, "--labels", "a=b"]);
  assert.equal(r.code, 1);
  assert.equal(r.out, "");
  assert.equal(r.err, `tabby selector: expected '==' at position 2\n  a = "b"\n    ^\n`);
  const j = await call([`has(a) &&`, "-o", "json"]);
  assert.equal(j.code, 1);
  assert.equal((JSON.parse(j.out) as { error: { position: number } }).error.position, 9);
});

test("caret lines keep tabs so the caret lines up", () => {
  assert.equal(caretLines("a\t= 'b'", 2), "  a\t= 'b'\n   \t^\n");
  assert.equal(caretLines("a\n", 1), "  a?\n   ^\n");
});

test("usage errors", async () => {
  await assert.rejects(call([]), { code: "CLI_USAGE" });
  await assert.rejects(call(["a == 'b'", "c == 'd'"]), { code: "CLI_USAGE" });
  await assert.rejects(call(["a == 'b'", "--labels", "novalue"]), { code: "CLI_USAGE" });
  await assert.rejects(call(["a == 'b'", "-o", "yaml"]), { code: "CLI_USAGE" });
  await assert.rejects(call(["a == 'b'", "--endpoints"]), (e: Error) => /needs a datastore/.test(e.message));
  await assert.rejects(call(["a == 'b'", "--bogus"]), { code: "CLI_USAGE" });
});

test("label lists", () => {
  assert.deepEqual({ ...parseLabelList(["a=1,b=x=y", "a=2"]) }, { a: "2", b: "x=y" });
  assert.deepEqual({ ...parseLabelList(["k="]) }, { k: "" });
});
