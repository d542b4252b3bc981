/**
 * A tiny TCP tool for the nft functional tests, run inside a namespace with
 * `ip netns exec NS node dist/test/nft-netns.js …`:
 *   serve PORT…        echo server on every port, both families (prints READY)
 *   connect HOST PORT  exits 0 when a connection is made and an echo comes back within 1.5 s
 *   hold HOST PORT     connects (prints CONNECTED), forwards stdin lines, prints "ECHO <line>" per echo
 *   probe HOST PORT    prints STARTED, tries to connect over and over (100 ms each)
 *                      until stdin closes; prints "<attempts> <successes>"
 */
import net from "node:net";
import { createInterface } from "node:readline";

const [mode, ...args] = process.argv.slice(2);

if (mode === "serve") {
  let pending = args.length;
  for (const p of args) {
    const srv = net.createServer((s) => {
      s.on("error", () => {});
      s.pipe(s);
    });
    srv.listen({ port: Number(p), host: "::", ipv6Only: false }, () => {
      if (--pending === 0) console.log("READY");
    });
  }
} else if (mode === "connect") {
  const s = net.connect({ host: args[0]!, port: Number(args[1]) });
  const timer = setTimeout(() => process.exit(1), 1500);
  s.on("connect", () => s.write("x"));
  s.on("data", () => {
    clearTimeout(timer);
    process.exit(0);
  });
  s.on("error", () => process.exit(1));
} else if (mode === "hold") {
  const s = net.connect({ host: args[0]!, port: Number(args[1]) });
  s.setEncoding("utf8");
  s.on("connect", () => console.log("CONNECTED"));
  s.on("data", (d: string) => {
    for (const line of d.split("\n")) if (line) console.log(`ECHO ${line}`);
  });
  s.on("error", (e) => {
    console.log(`ERROR ${e.message}`);
    process.exit(1);
  });
  createInterface({ input: process.stdin }).on("line", (l) => s.write(l + "\n"));
} else if (mode === "probe") {
  let attempts = 0;
  let successes = 0;
  let stop = false;
  process.stdin.resume();
  process.stdin.on("end", () => (stop = true));
  const once = () =>
    new Promise<void>((resolve) => {
      attempts++;
      const s = net.connect({ host: args[0]!, port: Number(args[1]) });
      const t = setTimeout(() => (s.destroy(), resolve()), 100);
      s.on("connect", () => (successes++, clearTimeout(t), s.destroy(), resolve()));
      s.on("error", () => (clearTimeout(t), resolve()));
    });
  console.log("STARTED");
  while (!stop) await once();
  console.log(`${attempts} ${successes}`);
} else {
  console.error("usage: serve PORT… | connect HOST PORT | hold HOST PORT | probe HOST PORT");
  process.exit(2);
}
