/**
 * Where tabby's own services listen unless told otherwise, in one place below everything that
 * starts, reaches or announces them (the agent, the CLI, the lab). The agent's metrics and health
 * ports (9091, 9099: Felix's) are in calc/policy-output.ts beside the control-plane rules that
 * keep workloads off them.
 */

/** The agent's explain API (mutual TLS): the port `tabby explain` asks when none is configured (pass the same to `node run --explain-listen`). */
export const DEFAULT_EXPLAIN_PORT = 9095;

/** Where `tabby ui` listens unless told otherwise: loopback only (the map is the operator's). */
export const DEFAULT_UI_LISTEN = "127.0.0.1:9098";
