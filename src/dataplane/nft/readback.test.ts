/** Read-back: nft's JSON listing (shapes as nft 1.0.6 prints them) against a rendering. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { diffActual, elementText, parseTableJson } from "./readback.js";
import type { Rendered } from "./render.js";

const LISTING = JSON.stringify({
  nftables: [
    { metainfo: { version: "1.0.6", json_schema_version: 1 } },
    { table: { family: "inet", name: "tabby", handle: 2 } },
    {
      set: {
        family: "inet",
        name: "wl-src4",
        table: "tabby",
        type: ["ifname", "ipv4_addr"],
        flags: ["interval"],
        elem: [{ concat: ["tab1", "10.0.0.5"] }, { concat: ["tab1", { prefix: { addr: "10.1.0.0", len: 24 } }] }],
      },
    },
    {
      set: {
        family: "inet",
        name: "n4-x",
        table: "tabby",
        type: "ipv4_addr",
        flags: ["interval"],
        elem: [{ prefix: { addr: "10.0.0.0", len: 25 } }, "10.9.9.9"],
      },
    },
    { set: { family: "inet", name: "p4-x", table: "tabby", type: ["ipv4_addr", "inet_proto", "inet_service"], elem: [{ concat: ["10.0.0.1", "tcp", 80] }] } },
    { map: { family: "inet", name: "wl-from-map", table: "tabby", type: "ifname", map: "verdict", elem: [["tab1", { goto: { target: "fw-tab1" } }]] } },
    { chain: { family: "inet", table: "tabby", name: "fw-tab1", handle: 1 } },
    { chain: { family: "inet", table: "tabby", name: "empty", handle: 3 } },
    { rule: { family: "inet", table: "tabby", chain: "fw-tab1", handle: 7, expr: [{ drop: null }] } },
  ],
});

const RENDERED: Rendered = {
  sets: new Map([
    ["wl-src4", { type: "ifname . ipv4_addr", interval: true, elements: new Set(['"tab1" . 10.0.0.5', '"tab1" . 10.1.0.0/24']) }],
    ["n4-x", { type: "ipv4_addr", interval: true, elements: new Set(["10.0.0.0/25", "10.9.9.9"]) }],
    ["p4-x", { type: "ipv4_addr . inet_proto . inet_service", interval: false, elements: new Set(["10.0.0.1 . 6 . 80"]) }],
  ]),
  maps: new Map([["wl-from-map", { type: "ifname : verdict", elements: new Map([['"tab1"', "goto fw-tab1"]]) }]]),
  chains: new Map([
    ["fw-tab1", { rules: ["drop"] }],
    ["empty", { rules: [] }],
  ]),
};

test("element texts", () => {
  assert.equal(elementText({ concat: ["10.0.0.1", "udp", 53] }), "10.0.0.1 . 17 . 53");
  assert.equal(elementText({ range: ["10.0.0.1", "10.0.0.9"] }), "10.0.0.1-10.0.0.9");
  assert.equal(elementText({ elem: { val: { prefix: { addr: "fd00::", len: 64 } }, comment: "x" } }), "fd00::/64");
});

test("a listing equal to the rendering shows no drift; each kind of difference is named", () => {
  const have = parseTableJson(LISTING)!;
  assert.deepEqual(diffActual(RENDERED, have), []);
  have.sets.get("n4-x")!.delete("10.9.9.9");
  have.chains.set("fw-tab1", 0);
  have.maps.get("wl-from-map")!.set("tab2", "goto fw-tab2");
  have.chains.set("intruder", 1);
  assert.deepEqual(diffActual(RENDERED, have), [
    "set n4-x lacks 10.9.9.9",
    "map wl-from-map has extra tab2",
    "chain fw-tab1 has 0 rules, want 1",
    "extra chain intruder",
  ]);
  assert.deepEqual(diffActual(RENDERED, parseTableJson("")), ["table inet tabby is missing"]);
});
