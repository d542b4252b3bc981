// parseCommandLine: commander's results in the shape the commands read (long option names,
// defaults, repeatable options, "--no-x" flags), usage errors as UsageError, --help as undefined.
import { test } from "node:test";
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { parseCommandLine } from "./parse.js";
import { UsageError } from "./command.js";
import type { CommandWords } from "./commands.js";

function io() {
  const out = new PassThrough();
  let stdout = "";
  out.on("data", (d) => (stdout += d));
  return { io: { stdout: out, stderr: new PassThrough(), env: {} }, out: () => stdout };
}
const parse = <W extends CommandWords>(w: W, argv: string[]) => parseCommandLine(w, argv, io().io);

test("values by long name, defaults, repeatable options, attached values", () => {
  assert.deepEqual(parse("get", ["nodes", "-ojson", "--namespace=x"]), { values: { namespace: "x", output: "json" }, positionals: ["nodes"] });
  assert.deepEqual(parse("apply", ["-f", "-", "--filename", "b.yaml"])!.values.filename, ["-", "b.yaml"]);
  assert.deepEqual(parse("selector", ["has(a)", "-l", "a=b", "-l", "c=d"])!.values, { labels: ["a=b", "c=d"], output: "text", endpoints: false });
  assert.equal(parse("explain", ["a", "b", "-6", "-p", "80"])!.values.ipv6, true);
  assert.deepEqual(parse("node install", [])!.values, {
    root: "/",
    "dry-run": false,
    "no-cni": false,
    "bin-dir": "/opt/cni/bin",
    "conf-dir": "/etc/cni/net.d",
  });
});

test('"--no-x" flags: given or not, and beside their positive "--x"', () => {
  const v = (argv: string[]) => {
    const x = parse("node run", argv)!.values;
    return [x["graceful-restart"], x["no-graceful-restart"], x["no-bfd"]];
  };
  assert.deepEqual(v([]), [undefined, undefined, undefined]);
  assert.deepEqual(v(["--no-graceful-restart", "--no-bfd"]), [undefined, true, true]);
  assert.deepEqual(v(["--graceful-restart"]), [true, undefined, undefined]);
  assert.equal(parse("node install", ["--no-cni"])!.values["no-cni"], true);
});

test("lab exec: options after NAME belong to the command; -- is optional", () => {
  assert.deepEqual(parse("lab exec", ["h1", "--", "ip", "-4", "route"]), { values: {}, positionals: ["h1", "--", "ip", "-4", "route"] });
  assert.deepEqual(parse("lab exec", ["--name", "x", "h1", "ip", "-4", "route"]), { values: { name: "x" }, positionals: ["h1", "ip", "-4", "route"] });
});

test("usage errors: unknown option, missing value, extra argument", () => {
  assert.throws(
    () => parse("get", ["nodes", "--bogus"]),
    (e) => e instanceof UsageError && /^unknown option '--bogus'\n\(tabby get --help lists the options\)$/.test(e.message),
  );
  assert.throws(
    () => parse("get", ["nodes", "-o"]),
    (e) => e instanceof UsageError && /argument missing/.test(e.message),
  );
  assert.throws(
    () => parse("lab check", ["extra"]),
    (e) => e instanceof UsageError && /unexpected argument "extra"/.test(e.message),
  );
  assert.throws(
    () => parse("patch", ["node", "a", "b"]),
    (e) => e instanceof UsageError && /unexpected argument "b"/.test(e.message),
  );
});

test("--help prints the command's help on stdout and resolves to undefined", () => {
  const h = io();
  assert.equal(parseCommandLine("ipam show", ["--help"], h.io), undefined);
  assert.match(h.out(), /^usage: tabby ipam show \[options\]\n/);
  assert.match(h.out(), /--show-blocks/);
});
