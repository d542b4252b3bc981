/**
 * node:http for the modules that serve or ask over HTTP (metrics, the UI, the Docker plugin), taken
 * without its ES-module facade. `import ... from "node:http"` makes Node build the facade, which
 * reads every export once, and a few of node:http's exports are getters that load Node's bundled
 * undici (the fetch and WebSocket client, with http2 and tls): some 30-60 ms of CPU at every start
 * of a process that never uses them (docs/benchmarks.md "What a start costs").
 * process.getBuiltinModule hands over the same object as require() does and reads no getter; it
 * needs no import.meta either, so it works as well in the CommonJS bundles. Type-only imports of
 * node:http cost nothing at run time and stay as they are.
 */
import type * as Http from "node:http";

export const http = process.getBuiltinModule("node:http") as typeof Http;
