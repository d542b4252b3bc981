/**
 * Reads the output of `ping -D -n -i 0.01 ADDR` (iputils) stopped with SIGINT, as the lab's drill
 * prober runs it: which sequence numbers were answered, how many were sent, how many lost, the
 * longest run of consecutive losses, and the longest gap: the longest time between two replies
 * in a row, from ping's own receive timestamps (-D) — under load ping sends less often than
 * asked, so run × interval would understate it; without timestamps it is run × interval. The
 * last packet sent is not counted: its reply may still have been on the way when ping stopped.
 * Pure.
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
  const stamps: number[] = [];
  for (const m of text.matchAll(/^(?:\[(\d+\.\d+)\] )?\d+ bytes from [^:]+: icmp_seq=(\d+) .*$/gm)) {
    if (m[0].includes("(DUP!)")) continue;
    answered.add(Number(m[2]));
    if (m[1]) stamps.push(Number(m[1]));
  }
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
  let longestGapMs = longestRun * intervalMs;
  if (stamps.length > 1) {
    // a normal interval between replies is no gap: only silences longer than it count
    let gap = 0;
    for (let i = 1; i < stamps.length; i++) gap = Math.max(gap, stamps[i]! - stamps[i - 1]!);
    const ms = Math.round(gap * 1000);
    longestGapMs = longestRun === 0 ? 0 : ms;
  }
  return { sent, received, lost: sent - received, longestRun, longestGapMs };
}
