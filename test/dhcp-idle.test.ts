/**
 * The DHCP responder's packet socket idles without waking (src/dhcp/packet-socket.ts): in a
 * namespace of its own, where no request comes, a receive stays pending (the socket used to
 * return every second from a receive timeout, for `close` to be noticed) until `close`, which
 * ends it at once. Run as root, in a child process inside the namespace.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { run } from "./helpers.js";

const NS = `tdi-${process.pid % 100000}`;
const canRun = process.getuid?.() === 0;
after(() => {
  try {
    execFileSync("ip", ["netns", "del", NS], { stdio: "ignore" });
  } catch {
    // not made
  }
});

const socketModule = fileURLToPath(new URL("../src/dhcp/packet-socket.js", import.meta.url));
const SCRIPT = `
  const { PacketSocket } = await import(${JSON.stringify(socketModule)});
  const s = await PacketSocket.open();
  let returned = 0;
  const first = s.receive().then((f) => { returned++; return f; });
  // well past the old one-second receive timeout
  await new Promise((r) => setTimeout(r, 2500));
  const pendingWhileIdle = returned === 0;
  s.close();
  const f = await first;
  process.stdout.write(JSON.stringify({ pendingWhileIdle, closedGivesUndefined: f === undefined, again: (await s.receive()) === undefined }));
`;

test("an idle responder socket's receive waits until close, which ends it", { skip: !canRun }, async () => {
  execFileSync("ip", ["netns", "add", NS]);
  execFileSync("ip", ["-n", NS, "link", "set", "lo", "up"]);
  const r = await run("ip", ["netns", "exec", NS, process.execPath, "--input-type=module", "-e", SCRIPT]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { pendingWhileIdle: true, closedGivesUndefined: true, again: true });
});
