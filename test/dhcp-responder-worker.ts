/**
 * Runs the agent's DHCP/RA service in the namespace it is started in, for test/dhcp-responder
 * .test.ts: answers on interface IFACE for the addresses given; prints "ready", and its stats and
 * what it logged as JSON when it gets SIGTERM. Usage: dhcp-responder-worker.js IFACE MAC ADDR [ADDR...]
 */
import { DhcpService } from "../src/dhcp/service.js";

const [iface, mac, ...nets] = process.argv.slice(2);
const seen: Record<string, unknown>[] = [];
const svc = new DhcpService({
  lookup: (n) => (n === iface ? { ipNetworks: nets, ...(mac !== "-" ? { mac: mac! } : {}) } : undefined),
  interfaces: () => [iface!],
  config: () => ({ dns: ["192.0.2.53", "2001:db8::53"], domain: "vms.example", leaseSeconds: 600, routerLifetime: 1800 }),
  log: (_l, msg, f) => void seen.push({ msg, ...f }),
  raIntervalMs: 3_600_000,
});
await svc.start();
process.stdout.write("ready\n");
process.once("SIGTERM", () => {
  void svc.stop().then(() => {
    process.stdout.write(`${JSON.stringify({ ...svc.stats, seen })}\n`);
    process.exit(0);
  });
});
