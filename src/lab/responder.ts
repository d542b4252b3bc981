#!/usr/bin/env node
/**
 * A lab workload's service: listens on TCP (both families) and answers every connection with
 * the workload's name, so `lab check` knows it reached the workload it meant to.
 * Usage: responder.js NAME PORT
 */
import { createServer } from "node:net";

const [name = "workload", portText = "8080"] = process.argv.slice(2);
const server = createServer((sock) => {
  sock.on("error", () => {});
  sock.end(`${name}\n`);
});
server.listen({ port: Number(portText), host: "::", ipv6Only: false });
for (const sig of ["SIGTERM", "SIGINT"] as const) process.on(sig, () => server.close(() => process.exit(0)));
