import { test } from "node:test";
import assert from "node:assert/strict";
import { mapSessions } from "./state.js";

const owner = (a: string) => ({ "10.0.0.1": "h1", "10.0.0.2": "h2", "10.0.0.9": "tor" })[a];

test("sessions: one per pair of ends, Established only when every end says so", () => {
  const s = mapSessions(
    [
      {
        host: "h1",
        peers: [
          { address: "10.0.0.2", state: "Established", established: true },
          { address: "10.0.0.9", state: "Active", established: false },
        ],
      },
      {
        host: "h2",
        peers: [
          { address: "10.0.0.1", state: "Established", established: true },
          { address: "10.0.0.7", state: "Idle", established: false },
        ],
      },
    ],
    owner,
  );
  assert.deepEqual(s, [
    { a: "h1", b: "h2", state: "Established", established: true },
    { a: "h1", b: "tor", state: "Active", established: false },
  ]);
});

test("a silent agent: its last known sessions are drawn down, and its peers' view does not make them up", () => {
  const last = new Map([["h2", [{ address: "10.0.0.9", state: "Established", established: true }]]]);
  const s = mapSessions([{ host: "h1", peers: [{ address: "10.0.0.2", state: "Established", established: true }] }, { host: "h2" }], owner, last);
  assert.deepEqual(
    s.map((x) => [x.a, x.b, x.established]),
    [
      ["h1", "h2", false],
      ["h2", "tor", false],
    ],
  );
  assert.match(s[0]!.state, /not answering/);
});
