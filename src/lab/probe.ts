#!/usr/bin/env node
/**
 * Runs inside a lab namespace and tries to reach each target by ICMP (the system `ping`) and
 * by TCP (expecting the responder to answer with the target's name). Prints one JSON array of
 * results on stdout. Usage: probe.js '<json [{name, family, address, port}]>'
 */
import { spawn } from "node:child_process";
import { connect } from "node:net";

interface Target {
  name: string;
  family: 4 | 6;
  address: string;
  port: number;
}

interface Result extends Target {
  icmp: boolean;
  tcp: boolean;
  tcpError?: string;
}

function ping(address: string, family: 4 | 6): Promise<boolean> {
  return new Promise((resolve) => {
    const p = spawn("ping", [family === 6 ? "-6" : "-4", "-c", "1", "-W", "2", "-n", "-q", address], { stdio: "ignore" });
    p.on("error", () => resolve(false));
    p.on("close", (code) => resolve(code === 0));
  });
}

function tcp(t: Target): Promise<{ ok: boolean; error?: string }> {
  return new Promise((resolve) => {
    let data = "";
    const sock = connect({ host: t.address, port: t.port, family: t.family });
    const done = (r: { ok: boolean; error?: string }) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done({ ok: false, error: "timeout" }), 3000);
    sock.setEncoding("utf8");
    sock.on("data", (d: string) => (data += d));
    sock.on("end", () => done(data.trim() === t.name ? { ok: true } : { ok: false, error: `answered as ${JSON.stringify(data.trim())}` }));
    sock.on("error", (err) => done({ ok: false, error: (err as NodeJS.ErrnoException).code ?? err.message }));
  });
}

async function probe(t: Target): Promise<Result> {
  // One retry each: the first packet may wait on neighbour resolution.
  const icmp = (await ping(t.address, t.family)) || (await ping(t.address, t.family));
  let conn = await tcp(t);
  if (!conn.ok) conn = await tcp(t);
  const r: Result = { ...t, icmp, tcp: conn.ok };
  if (conn.error) r.tcpError = conn.error;
  return r;
}

const targets = JSON.parse(process.argv[2] ?? "[]") as Target[];
const results = await Promise.all(targets.map(probe));
process.stdout.write(JSON.stringify(results) + "\n");
