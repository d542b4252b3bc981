/**
 * `node explain-pipe.js SOCKET HOST PORT`, run by `tabby explain` inside a lab namespace (`ip netns
 * exec`): the root namespace has no route into the lab's fabric, so the CLI reaches an agent's
 * explain API through this byte pipe — a unix socket (0600, in the lab directory) whose every
 * connection is joined to a TCP connection to HOST:PORT made from the namespace. It only moves
 * bytes: the TLS session, the certificate checks on both sides, run end to end between the CLI and
 * the agent, exactly as across real machines. Prints `ready` when listening; exits when its
 * stdin closes (the CLI is done or gone).
 */
import { connect } from "node:net";
import { relayServer } from "./relay.js";
import { rmSync } from "node:fs";

const [socketPath, host, portText] = process.argv.slice(2);
if (!socketPath || !host || !portText) {
  process.stderr.write("usage: explain-pipe SOCKET HOST PORT\n");
  process.exit(2);
}
const relay = relayServer(() => connect({ host, port: Number(portText) }));
const server = relay.server;
rmSync(socketPath, { force: true });
const umask = process.umask(0o177);
server.listen(socketPath, () => {
  process.umask(umask);
  process.stdout.write("ready\n");
});
const stop = () => {
  void relay.close();
  rmSync(socketPath, { force: true });
  process.exit(0);
};
process.stdin.on("end", stop).on("close", stop).resume();
process.on("SIGTERM", stop);
