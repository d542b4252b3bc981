#!/usr/bin/env node
/**
 * Runs inside a lab namespace and tries each target: ICMP echo (the system `ping`) or a TCP
 * connection that must be answered with the target's name by its responder. Prints one JSON
 * array of results on stdout. Usage: probe.js '<json [{name, family, address, protocol, port?}]>'
 */
import { spawn } from "node:child_process";
import { connect } from "node:net";

export interface ProbeTarget {
  name: string;
  family: 4 | 6;
  address: string;
  protocol: "icmp" | "tcp";
  port?: number;
  /** An anycast target: any of these names is a right answer (the target's own name otherwise). */
  accept?: string[];
}

export interface ProbeResult extends ProbeTarget {
  reached: boolean;
  error?: string;
}

function ping(address: string, family: 4 | 6): Promise<boolean> {
  return new Promise((resolve) => {
    const p = spawn("ping", [family === 6 ? "-6" : "-4", "-c", "1", "-W", "2", "-n", "-q", address], { stdio: "ignore" });
    p.on("error", () => resolve(false));
    p.on("close", (code) => resolve(code === 0));
  });
}

function tcp(t: ProbeTarget): Promise<{ ok: boolean; error?: string }> {
  return new Promise((resolve) => {
    let data = "";
    const sock = connect({ host: t.address, port: t.port ?? 0, family: t.family });
    const done = (r: { ok: boolean; error?: string }) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done({ ok: false, error: "timeout" }), 2500);
    sock.setEncoding("utf8");
    sock.on("data", (d: string) => (data += d));
    sock.on("end", () =>
      done((t.accept ?? [t.name]).includes(data.trim()) ? { ok: true } : { ok: false, error: `answered as ${JSON.stringify(data.trim())}` }),
    );
    sock.on("error", (err) => done({ ok: false, error: (err as NodeJS.ErrnoException).code ?? err.message }));
  });
}

async function probe(t: ProbeTarget): Promise<ProbeResult> {
  // One retry: the first packet may wait on neighbour resolution.
  if (t.protocol === "icmp") {
    const reached = (await ping(t.address, t.family)) || (await ping(t.address, t.family));
    return { ...t, reached };
  }
  let r = await tcp(t);
  if (!r.ok) r = await tcp(t);
  return { ...t, reached: r.ok, ...(r.error ? { error: r.error } : {}) };
}

const targets = JSON.parse(process.argv[2] ?? "[]") as ProbeTarget[];
const results = await Promise.all(targets.map(probe));
process.stdout.write(JSON.stringify(results) + "\n");
