import { test } from "node:test";
import assert from "node:assert/strict";
import type * as http from "node:http";
import { HttpEndpoints } from "./endpoints.js";
import type { HttpRoutes } from "./http.js";

test("endpoints follow the configuration: shared address, reconfigure in place, a bind failure is reported", async () => {
  const events: string[] = [];
  const fakeServe = async (host: string, port: number, routes: HttpRoutes) => {
    if (port === 1) throw new Error("EADDRINUSE");
    events.push(`open ${host}:${port} ${routes.metrics ? "m" : ""}${routes.health ? "h" : ""}`);
    return { close: (cb: () => void) => (events.push(`close ${host}:${port}`), cb()) } as unknown as http.Server;
  };
  const routes = { metrics: { contentType: "t", render: () => Promise.resolve("") }, health: () => ({ ready: true, live: true, checks: [] }) };
  const e = new HttpEndpoints(routes, () => {}, fakeServe);
  await e.apply({ health: { host: "127.0.0.1", port: 9099 } });
  await e.apply({ health: { host: "127.0.0.1", port: 9099 }, metrics: { host: "127.0.0.1", port: 9091 } });
  await e.apply({ health: { host: "127.0.0.1", port: 9091 }, metrics: { host: "127.0.0.1", port: 9091 } });
  assert.deepEqual(await e.apply({ health: { host: "127.0.0.1", port: 1 } }), ["Error: EADDRINUSE"]);
  await e.close();
  assert.deepEqual(events, [
    "open 127.0.0.1:9099 h",
    "open 127.0.0.1:9091 m", // health unchanged: kept
    "close 127.0.0.1:9099",
    "close 127.0.0.1:9091",
    "open 127.0.0.1:9091 mh", // one server for both
    "close 127.0.0.1:9091",
  ]);
  assert.equal(e.serving().size, 0);
});
