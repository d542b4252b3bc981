import { test } from "node:test";
import assert from "node:assert/strict";
import { columns } from "./columns.js";

test("columns: each column as wide as its widest cell plus two, no trailing blanks, missing cells empty", () => {
  assert.equal(
    columns([
      ["NAME", "STATE", "WHY"],
      ["peer-one", "Up", ""],
      ["p2", undefined, "refused"],
    ]),
    "NAME      STATE  WHY\npeer-one  Up\np2               refused\n",
  );
  assert.equal(columns([]), "");
});
