/**
 * A real `tabby node run` in a namespace a test made, with the options the namespace tests share
 * (one host, a pool per family, endpoint status files, IPAM garbage collection off), its output
 * appended to DIR/agent.log. The caller ends it (by pid) in its `after()`.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { openSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export interface AgentInNetns {
  netns: string;
  name: string;
  /** the node's IPv4 address with its prefix length */
  ip: string;
  /** the node's IPv6 address with its prefix length; none when absent */
  ip6?: string;
  ipv4Pool: string;
  ipv6Pool?: string;
  datastore: string;
  /** the test's directory: the control socket and agent.log go there */
  dir: string;
  statusDir: string;
}

export function spawnAgentInNetns(o: AgentInNetns): ChildProcess {
  const main = fileURLToPath(new URL("../../cli/main.js", import.meta.url));
  const log = openSync(join(o.dir, "agent.log"), "a");
  const args = ["node", "run", "--name", o.name, "--ip", o.ip, "--ip6", o.ip6 ?? "none", "--ipv4-pool", o.ipv4Pool];
  if (o.ipv6Pool) args.push("--ipv6-pool", o.ipv6Pool);
  args.push("--datastore", o.datastore, "--control", join(o.dir, "node.sock"), "--endpoint-status-dir", o.statusDir, "--ipam-gc-grace", "off");
  return spawn("ip", ["netns", "exec", o.netns, process.execPath, main, ...args], { stdio: ["ignore", log, log] });
}
