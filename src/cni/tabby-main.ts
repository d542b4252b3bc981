#!/usr/bin/env node
/**
 * The `tabby` CNI network plugin executable (what `tabby cni install` points the `tabby` wrapper
 * at). Same as running the `tabby` CLI with CNI_COMMAND set, minus the CLI's own start-up.
 */
import { runCniPlugin } from "./plugin-main.js";

process.exitCode = await runCniPlugin("tabby");
