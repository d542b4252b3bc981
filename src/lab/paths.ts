/**
 * Where tabby's own executables are, for the lab to start agents, CNI plugins and probes
 * exactly as a user or a container runtime would.
 */
import { fileURLToPath } from "node:url";

export const CLI_MAIN = fileURLToPath(new URL("../cli/main.js", import.meta.url));
export const RESPONDER = fileURLToPath(new URL("./responder.js", import.meta.url));
export const PROBE = fileURLToPath(new URL("./probe.js", import.meta.url));
export const NODE = process.execPath;
export const EXPLAIN_PIPE = fileURLToPath(new URL("./explain-pipe.js", import.meta.url));
