/**
 * In-process RIB benchmark (issue 3): N IPv4 /32s arrive as UPDATEs of ~800 prefixes from C iBGP
 * route-reflector clients (one attribute set per client, as BIRD sends a static table); each is
 * decoded, imported and put into the RIB, and (with --group) pushed through one update group of
 * C+1 members, as a route reflector does. No sockets. Printed: CPU seconds and heap bytes per route
 * (measured after a full GC, the encoded UPDATEs themselves excluded).
 *
 * Run: npx tsc -p . && node --expose-gc dist/bench/bgp-rib.js [--routes 1000000] [--clients 20] [--group]
 */
import { IP, parseIP } from "../src/net/ip.js";
import { Prefix } from "../src/net/prefix.js";
import { Rib, type RibChange } from "../src/bgp/rib/rib.js";
import { importUpdate } from "../src/bgp/rib/import.js";
import { exportRoute, type ExportTarget } from "../src/bgp/rib/export.js";
import type { Path, PeerInfo, PrefixKey, RouteAttrs } from "../src/bgp/rib/types.js";
import { UpdateGroup, type ExportResult, type GroupMember } from "../src/bgp/update-group.js";
import { encodeMessage, decodeMessage } from "../src/bgp/wire/messages.js";
import { outRouteKey } from "../src/bgp/pack.js";
import type { CodecOptions } from "../src/bgp/wire/attributes.js";
import { flag } from "./bgp-util.js";

const argv = process.argv.slice(2);
const N = flag(argv, "--routes", 1_000_000);
const C = flag(argv, "--clients", 20);
const withGroup = argv.includes("--group");
const AS = 65000;
const tx: CodecOptions = { as4: true, addPath: { ipv4: false, ipv6: false } };
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc");

const clients: PeerInfo[] = [];
for (let i = 1; i <= C; i++)
  clients.push({ id: `192.0.2.${10 + i}`, address: parseIP(`192.0.2.${10 + i}`), asNumber: AS, routerId: `192.0.2.${10 + i}`, ibgp: true, rrClient: true });

// the UPDATEs, encoded before measuring
const frames: { from: number; bytes: Uint8Array }[] = [];
const each = Math.ceil(N / C);
for (let c = 0; c < C; c++) {
  for (let j = 0; j < each && c * each + j < N; j += 800) {
    const nlri = [];
    for (let k = j; k < Math.min(each, j + 800) && c * each + k < N; k++) {
      const n = c * each + k;
      nlri.push({ prefix: new Prefix(new IP(Uint8Array.of(10, (n >> 16) & 255, (n >> 8) & 255, n & 255)), 32), pathId: 0 });
    }
    frames.push({
      from: c,
      bytes: encodeMessage({ type: "update", withdrawn: [], attributes: { origin: 0, asPath: [], nextHop: clients[c]!.address, localPref: 100 }, nlri }, tx),
    });
  }
}

const rib = new Rib(AS);
let group: UpdateGroup<GroupMember> | undefined;
if (withGroup) {
  const target: ExportTarget = { peer: { ...clients[0]!, id: "group" }, localAs: AS, routerId: "192.0.2.2", clusterId: "1.1.1.1", selfNextHop: {} };
  const memo = new Map<RouteAttrs, ExportResult | undefined>();
  group = new UpdateGroup<GroupMember>(
    "bench",
    ["ipv4"],
    tx,
    (p: Path) => {
      if (!memo.has(p.attrs)) {
        const out = exportRoute(p, target);
        memo.set(p.attrs, out && { out, key: outRouteKey(out, tx), from: p.source?.id, originatorId: out.attrs.originatorId });
      }
      return memo.get(p.attrs);
    },
    () => 0,
  );
  for (const c of clients) group.join({ id: c.id, routerId: c.routerId });
  group.join({ id: "192.0.2.200", routerId: "192.0.2.200" });
}
const identity = { asNumber: AS, routerId: "192.0.2.2", clusterId: "1.1.1.1" };

gc();
const heap0 = process.memoryUsage().heapUsed;
const cpu0 = process.cpuUsage();
let sent = 0;
for (const f of frames) {
  const u = decodeMessage(f.bytes, tx);
  if (u.type !== "update") continue;
  const r = importUpdate(u, clients[f.from]!, identity, Date.now());
  const changes = new Map<PrefixKey, RibChange>();
  for (const p of r.announce) rib.upsert(p, changes);
  if (group) for (const s of group.sync(changes.values()).shared) sent += s.bytes.length;
}
const cpu = process.cpuUsage(cpu0);
gc();
const heap1 = process.memoryUsage().heapUsed;
const cpuS = (cpu.user + cpu.system) / 1e6;
const held = clients.reduce((n, c) => n + rib.peerPathCount(c.id), 0);
console.log(
  `rib_routes ${held} cpu_s=${cpuS.toFixed(2)} heap_B_per_route=${((heap1 - heap0) / N).toFixed(0)} group=${withGroup ? `yes (${C + 1} members, ${group!.size} prefixes, ${(sent / 1e6).toFixed(1)} MB encoded once)` : "no"}`,
);
