/** Errors of the DHCP/RA codecs (stable codes, prefix NET_DHCP_). */
import { TabbyError } from "../errors.js";

export function malformed(what: string, details?: Record<string, unknown>): TabbyError {
  return new TabbyError("NET_DHCP_MALFORMED", what, details);
}
