#!/usr/bin/env node
/** `tabby`: runs the command line (entry.ts) with this process's arguments and streams. */
import { main } from "./entry.js";

process.exitCode = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env });
