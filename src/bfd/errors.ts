/**
 * Errors of the BFD package (RFC 5880). Every reception check of §6.8.6 that discards a packet
 * has its own stable `code` (BFD_*), so tests and logs name the rule, never the message text.
 */
import { TabbyError } from "../errors.js";

export class BfdError extends TabbyError {}
