#!/usr/bin/env node
/**
 * The lab's workload service: ONE process for all of a lab's workloads. For each workload's
 * network namespace it readies the namespace (loopback up, IPv6 duplicate address detection off,
 * what `ip link set lo up` and `sysctl` did per namespace before) and listens there on the lab's
 * TCP ports (both families), answering every connection with the workload's name, so `lab check`
 * knows it reached the workload it meant to. ICMP is the kernel's.
 *
 * A socket belongs to the network namespace it was made in, and stays there whatever the process
 * does afterwards: the thread visits each namespace with setns(2) (src/dataplane/netlink/socket.ts
 * `inNetns`), makes its listening sockets there, and comes back. One Node process (one heap, one
 * event loop) then serves every workload: before, a Node process per workload cost ~48 MiB
 * resident and a Node start each (docs/benchmarks.md "Lab up at 50 hosts").
 *
 * Usage: responder.js SPEC.json, where SPEC is {ports: [80, 8080], workloads: [{name, netns}],
 * ready: FILE}; `netns` is a path (/run/netns/NAME). FILE is written once every namespace is
 * served (`lab up` waits for it). Exits 1 (its reason on stderr) if a namespace cannot be served.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { loadLibc } from "../dataplane/libc.js";
import { setLink } from "../dataplane/netlink/codec.js";
import { RouteSocket, inNetns } from "../dataplane/netlink/socket.js";

export interface ResponderSpec {
  ports: number[];
  workloads: { name: string; netns: string }[];
  ready: string;
}

/** The loopback's interface index in every network namespace. */
const LO_INDEX = 1;
const NO_DAD = ["net/ipv6/conf/all/accept_dad", "net/ipv6/conf/default/accept_dad"];

/**
 * Readies one namespace and listens in it. Synchronous inside the namespace: Node binds and
 * listens a server without a host at once (the socket is made in the calling thread's
 * namespace); `listening` false afterwards would mean it did not, and is refused.
 */
function serve(w: { name: string; netns: string }, ports: number[]): Server[] {
  return inNetns(w.netns, () => {
    for (const path of NO_DAD) writeFileSync(`/proc/sys/${path}`, "0");
    const sock = RouteSocket.here(w.netns);
    try {
      sock.request("set lo up", (seq) => setLink(seq, LO_INDEX, { up: true }));
    } finally {
      sock.close();
    }
    return ports.map((port) => {
      const server = createServer((conn) => {
        conn.on("error", () => {});
        conn.end(`${w.name}\n`);
      });
      server.on("error", (err) => {
        process.stderr.write(`responder: ${w.name} port ${port}: ${err.message}\n`);
        process.exit(1);
      });
      server.listen({ port, ipv6Only: false });
      if (!server.listening) throw new Error(`${w.name}: port ${port} was not bound inside ${w.netns} at once`);
      return server;
    });
  });
}

async function main(): Promise<void> {
  const specFile = process.argv[2];
  if (!specFile) throw new Error("usage: responder.js SPEC.json");
  const spec = JSON.parse(readFileSync(specFile, "utf8")) as ResponderSpec;
  await loadLibc();
  const servers = spec.workloads.flatMap((w) => serve(w, spec.ports));
  writeFileSync(spec.ready, `${spec.workloads.length}\n`);
  for (const sig of ["SIGTERM", "SIGINT"] as const) {
    process.on(sig, () => {
      for (const s of servers) s.close();
      process.exit(0);
    });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`responder: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
