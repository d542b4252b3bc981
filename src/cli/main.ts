#!/usr/bin/env node
/** `tabby`: runs the command line (entry.ts) with this process's arguments and streams. */
import { main } from "./entry.js";

// A reader that went away (`tabby ... --help | head`): stop quietly, as a tool that SIGPIPE ends
// does, instead of an unhandled EPIPE with a stack trace.
for (const stream of [process.stdout, process.stderr])
  stream.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code !== "EPIPE") throw e;
    process.exit(process.exitCode ?? 0);
  });

process.exitCode = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env });
