#!/usr/bin/env node
/**
 * A lab workload's service: listens on TCP ports (both families) and answers every connection
 * with the workload's name, so `lab check` knows it reached the workload it meant to.
 * Usage: responder.js NAME PORT [PORT...]
 */
import { createServer } from "node:net";

const [name = "workload", ...ports] = process.argv.slice(2);
const servers = (ports.length ? ports : ["8080"]).map((port) => {
  const server = createServer((sock) => {
    sock.on("error", () => {});
    sock.end(`${name}\n`);
  });
  server.listen({ port: Number(port), host: "::", ipv6Only: false });
  return server;
});
for (const sig of ["SIGTERM", "SIGINT"] as const) {
  process.on(sig, () => {
    for (const s of servers) s.close();
    process.exit(0);
  });
}
