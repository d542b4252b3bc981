/**
 * NOTIFICATION codes and subcodes in words, for status and logs: RFC 4271 §4.5 and §6 (codes
 * 1-6), RFC 4486 (Cease subcodes), RFC 6608 (FSM subcodes), RFC 7313 (ROUTE-REFRESH), RFC 8538
 * (Hard Reset), RFC 9234 (Role Mismatch), RFC 9384 (BFD Down), RFC 9687 (Send Hold Timer
 * Expired). `describeSessionError` adds the words to the session's `lastError` text. Pure.
 */

const CODES: Record<number, [string, Record<number, string>]> = {
  1: ["Message Header Error", { 1: "Connection Not Synchronized", 2: "Bad Message Length", 3: "Bad Message Type" }],
  2: [
    "OPEN Message Error",
    {
      1: "Unsupported Version Number",
      2: "Bad Peer AS",
      3: "Bad BGP Identifier",
      4: "Unsupported Optional Parameter",
      6: "Unacceptable Hold Time",
      7: "Unsupported Capability",
      11: "Role Mismatch",
    },
  ],
  3: [
    "UPDATE Message Error",
    {
      1: "Malformed Attribute List",
      2: "Unrecognized Well-known Attribute",
      3: "Missing Well-known Attribute",
      4: "Attribute Flags Error",
      5: "Attribute Length Error",
      6: "Invalid ORIGIN Attribute",
      8: "Invalid NEXT_HOP Attribute",
      9: "Optional Attribute Error",
      10: "Invalid Network Field",
      11: "Malformed AS_PATH",
    },
  ],
  4: ["Hold Timer Expired", {}],
  5: ["Finite State Machine Error", { 1: "Unexpected Message in OpenSent", 2: "Unexpected Message in OpenConfirm", 3: "Unexpected Message in Established" }],
  6: [
    "Cease",
    {
      1: "Maximum Number of Prefixes Reached",
      2: "Administrative Shutdown",
      3: "Peer De-configured",
      4: "Administrative Reset",
      5: "Connection Rejected",
      6: "Other Configuration Change",
      7: "Connection Collision Resolution",
      8: "Out of Resources",
      9: "Hard Reset",
      10: "BFD Down",
    },
  ],
  7: ["ROUTE-REFRESH Message Error", { 1: "Invalid Message Length" }],
  8: ["Send Hold Timer Expired", {}],
};

/** "Cease / Maximum Number of Prefixes Reached" for 6/1; numbers for what is not known. */
export function notificationText(code: number, subcode: number): string {
  const c = CODES[code];
  if (!c) return `error code ${code}, subcode ${subcode}`;
  if (subcode === 0) return c[0];
  return `${c[0]} / ${c[1][subcode] ?? `subcode ${subcode}`}`;
}

/** The session's last error with every "NOTIFICATION c/s" and "hard reset: c/s" followed by its words. */
export function describeSessionError(text: string): string {
  return text.replace(
    /(NOTIFICATION|hard reset:) (\d+)\/(\d+)/g,
    (_m, what: string, c: string, s: string) => `${what} ${c}/${s} (${notificationText(Number(c), Number(s))})`,
  );
}
