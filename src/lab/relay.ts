/**
 * A byte relay: a server whose every accepted connection is joined to a fresh upstream connection,
 * both ended together. The lab uses it to reach what lives only inside its namespaces from the root
 * namespace (etcd's unix socket, an agent's explain API); it only moves bytes, so TLS runs end to
 * end through it.
 */
import { createServer, type Server, type Socket } from "node:net";

export interface Relay {
  server: Server;
  /** Ends every relayed connection and closes the server. */
  close(): Promise<void>;
}

export function relayServer(upstream: () => Socket): Relay {
  const open = new Set<Socket>();
  const server = createServer((c) => {
    const u = upstream();
    open.add(c).add(u);
    const end = () => {
      c.destroy();
      u.destroy();
      open.delete(c);
      open.delete(u);
    };
    c.on("error", end).on("close", end);
    u.on("error", end).on("close", end);
    c.pipe(u);
    u.pipe(c);
  });
  return {
    server,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}
