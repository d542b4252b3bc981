#!/usr/bin/env node
/** The `tabby-ipam` CNI IPAM plugin executable (install as `tabby-ipam` in the CNI bin dir). */
import { runCniPlugin } from "./plugin-main.js";

process.exitCode = await runCniPlugin("tabby-ipam");
