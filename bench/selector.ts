/**
 * Selector benchmark: parses/s over 10k distinct selectors, matches/s over 100k label sets
 * (plain objects and Maps). Prints figures only; no assertions.
 * Run: npx tsc -p . && node dist/bench/selector.js
 */
import { performance } from "node:perf_hooks";
import { parseSelector } from "../src/selector/index.js";

function rate(n: number, ms: number): string {
  return `${Math.round((n / ms) * 1000).toLocaleString("en-US")}/s`;
}

const N_SEL = 10_000;
const sels: string[] = [];
for (let i = 0; i < N_SEL; i++) {
  sels.push(
    `projectcalico.org/namespace == 'ns-${i % 97}' && (app in {"web-${i}", "api-${i}", "db"} || tier starts with "front") && !has(quarantine-${i % 13}) && env != "dev"`,
  );
}

// Parse (includes the canonical string; unique ID measured separately). The first round is cold
// (JIT warm-up), the later ones warm.
let t0 = 0;
let t1 = 0;
let parsed: ReturnType<typeof parseSelector>[] = [];
for (let round = 1; round <= 3; round++) {
  t0 = performance.now();
  parsed = sels.map((s) => parseSelector(s));
  t1 = performance.now();
  console.log(`parse #${round}:  ${N_SEL} selectors in ${(t1 - t0).toFixed(1)} ms → ${rate(N_SEL, t1 - t0)}${round === 1 ? " (cold)" : ""}`);
}
t0 = performance.now();
let idLen = 0;
for (const p of parsed) idLen += p.uniqueId().length;
t1 = performance.now();
console.log(`uniqueId:  ${N_SEL} ids in ${(t1 - t0).toFixed(1)} ms → ${rate(N_SEL, t1 - t0)} (${idLen} chars)`);

const N_LAB = 100_000;
const records: Record<string, string>[] = [];
for (let i = 0; i < N_LAB; i++) {
  const l: Record<string, string> = {
    "projectcalico.org/namespace": `ns-${i % 97}`,
    "projectcalico.org/orchestrator": "k8s",
    app: i % 3 === 0 ? "db" : `web-${i}`,
    tier: i % 2 ? "frontend" : "backend",
    env: i % 5 ? "prod" : "dev",
  };
  if (i % 11 === 0) l["quarantine-0"] = "yes";
  records.push(l);
}
const maps = records.map((r) => new Map(Object.entries(r)));

const cases: [string, string][] = [
  ["simple ==", `app == "db"`],
  ["typical policy", parsed[0]!.toString()],
  ["set of 20", `app in {${Array.from({ length: 20 }, (_, i) => `"web-${i * 7}"`).join(", ")}}`],
  ["all()", ""],
];
for (const [name, text] of cases) {
  const s = parseSelector(text);
  for (const [kind, sets] of [
    ["record", records],
    ["map", maps],
  ] as const) {
    // Warm up, then measure.
    let hits = 0;
    for (let i = 0; i < 10_000; i++) if (s.matches(sets[i]!)) hits++;
    hits = 0;
    t0 = performance.now();
    for (let r = 0; r < 5; r++) for (const l of sets) if (s.matches(l)) hits++;
    t1 = performance.now();
    console.log(`match ${name.padEnd(15)} ${kind.padEnd(6)} ${5 * N_LAB} in ${(t1 - t0).toFixed(1)} ms → ${rate(5 * N_LAB, t1 - t0)} (${hits} hits)`);
  }
}
