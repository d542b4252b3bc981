import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { manifestText, validUtf8Prefix } from "./manifest-input.js";

test("property: validUtf8Prefix is the whole input exactly when TextDecoder accepts it, and its prefix always decodes", () => {
  const dec = new TextDecoder("utf-8", { fatal: true });
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 40 }), fc.string({ unit: "binary", maxLength: 20 }), (raw, s) => {
      for (const bytes of [raw, Buffer.concat([Buffer.from(s, "utf8"), Buffer.from(raw)])]) {
        let valid = true;
        try {
          dec.decode(bytes);
        } catch {
          valid = false;
        }
        const n = validUtf8Prefix(bytes);
        assert.equal(n === bytes.length, valid);
        dec.decode(bytes.subarray(0, n)); // never throws
      }
    }),
    { numRuns: 3000 },
  );
});

test("manifestText: binary is described by size; other encodings by where they stop being UTF-8; a BOM is dropped", () => {
  assert.throws(() => manifestText(Buffer.from([0x61, 0, 0x62]), "f"), { message: "f: 3 bytes of binary data, not YAML or JSON" });
  assert.throws(() => manifestText(Buffer.from("kind: a\nname: caf\xe9\n", "latin1"), "f.yaml"), {
    message: "f.yaml: 19 bytes that are not UTF-8 text (line 2, byte 18 of the input); save it as UTF-8",
  });
  assert.equal(manifestText(Buffer.from("\ufeffkind: a\n", "utf8"), "f"), "kind: a\n");
});

test("manifestText: random bytes without a NUL are still binary, not 'another encoding'", () => {
  const bytes = Buffer.alloc(4096);
  for (let i = 0; i < bytes.length; i++) bytes[i] = 1 + ((i * 7919) % 255);
  assert.throws(() => manifestText(bytes, "<stdin>"), { message: "<stdin>: 4096 bytes of binary data, not YAML or JSON" });
});
