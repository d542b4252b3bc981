#!/usr/bin/env node
/**
 * `tabby`: runs the command line (entry.ts) with this process's arguments and streams. Node's
 * compile cache is turned on first (compile-cache.ts), so that entry.ts and every module the
 * command loads after it are read from the cache when this build ran before.
 */
import { enableTabbyCompileCache } from "./compile-cache.js";

enableTabbyCompileCache();
const { main } = await import("./entry.js");

// A reader that went away (`tabby ... --help | head`): stop quietly, as a tool that SIGPIPE ends
// does, instead of an unhandled EPIPE with a stack trace — and, as such a tool, with a failure
// status (128 + SIGPIPE, what a shell reports for one) unless the command had already finished:
// a daemon (`node run`, `bgp run`) whose log reader went away has not succeeded, and a supervisor
// restarting on failure (the systemd units' Restart=on-failure) must not take it for a clean stop.
const SIGPIPE_STATUS = 141;
let finished = false;
for (const stream of [process.stdout, process.stderr])
  stream.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code !== "EPIPE") throw e;
    process.exit(finished ? (process.exitCode ?? 0) : SIGPIPE_STATUS);
  });

process.exitCode = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env });
finished = true;
