/**
 * A BFD session's configured options (RFC 5880 §6.8.1 timers and Detect Mult, RFC 5883 multihop,
 * §6.7 authentication), FRR's defaults, and their check. Apart from the service (service.ts), so
 * that a config (tabby bgp run's, the agent's flags) is checked without loading the BFD machinery,
 * its sockets and node:crypto: a speaker with no BFD peer does not carry them.
 */
import { BfdError } from "./errors.js";
import { validateAuthConfig, type BfdAuthConfig } from "./wire/auth-config.js";

/** Per-peer options as configured: milliseconds and a count. */
export interface BfdOptions {
  minRx: number;
  minTx: number;
  multiplier: number;
  /** RFC 5883 (UDP 4784, no TTL check) instead of RFC 5881. */
  multihop?: boolean;
  /** Authentication (RFC 5880 §6.7); without it, authenticated packets are discarded. */
  auth?: BfdAuthConfig;
}

/** FRR's defaults (bfdd: receive-interval 300, transmit-interval 300, detect-multiplier 3). */
export const BFD_DEFAULTS: Readonly<BfdOptions> = { minRx: 300, minTx: 300, multiplier: 3 };

export function validateOptions(o: BfdOptions): void {
  const ms = (v: unknown, what: string) => {
    if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > 4_294_967)
      throw new BfdError("BFD_CONFIG", `bfd ${what} must be 1..4294967 milliseconds: ${String(v)}`);
  };
  ms(o.minRx, "minRx");
  ms(o.minTx, "minTx");
  if (typeof o.multiplier !== "number" || !Number.isInteger(o.multiplier) || o.multiplier < 1 || o.multiplier > 255)
    throw new BfdError("BFD_CONFIG", `bfd multiplier must be 1..255: ${String(o.multiplier)}`);
  if (o.auth !== undefined) validateAuthConfig(o.auth);
}
