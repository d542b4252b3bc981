/**
 * Reads the output of `ping -n -i 0.01 ADDR` (iputils) stopped with SIGINT, as the lab's drill
 * prober runs it: which sequence numbers were answered, how many were sent, how many lost, and
 * the longest run of consecutive losses as time (run × the send interval: the prober sends on a
 * fixed schedule, so this is a count, not a measured wall-clock time). The last packet sent is
 * not counted: its reply may still have been on the way when ping stopped. Pure.
 */

export interface PingSummary {
  sent: number;
  received: number;
  lost: number;
  /** Consecutive packets lost at most. */
  longestRun: number;
  longestGapMs: number;
}

export function summarizePing(text: string, intervalMs: number): PingSummary {
  const answered = new Set<number>();
  for (const m of text.matchAll(/bytes from [^:]+: icmp_seq=(\d+) /g)) answered.add(Number(m[1]));
  const tx = /(\d+) packets transmitted/.exec(text);
  // without the summary line, the highest sequence number seen is what is known to be sent
  const transmitted = tx ? Number(tx[1]) : Math.max(0, ...answered, ...[...text.matchAll(/icmp_seq=(\d+)/g)].map((m) => Number(m[1])));
  const sent = Math.max(0, transmitted - 1);
  let received = 0;
  let run = 0;
  let longestRun = 0;
  for (let seq = 1; seq <= sent; seq++) {
    if (answered.has(seq % 65536)) {
      received++;
      run = 0;
    } else {
      run++;
      longestRun = Math.max(longestRun, run);
    }
  }
  return { sent, received, lost: sent - received, longestRun, longestGapMs: longestRun * intervalMs };
}
