/** `tabby explain`'s text: one line per step, then the path and the verdict. Pure. */
import type { Explanation } from "./walk.js";

export function formatExplanation(ex: Explanation): string {
  const what = `${ex.protocol.toUpperCase()}${ex.port !== undefined ? ` ${ex.port}` : ""}`;
  const lines = [`${ex.src} (${ex.srcAddr}) → ${ex.dst} (${ex.dstAddr}) ${what}`, ""];
  for (const s of ex.steps) lines.push(`${s.ok ? "  ok  " : "  FAIL"} ${s.kind.padEnd(15)} ${s.at}: ${s.detail}`);
  lines.push("");
  if (ex.pathMtu !== undefined) lines.push(`path: ${ex.path.join(" → ")}, path MTU ${ex.pathMtu}`);
  else lines.push(`path: ${ex.path.join(" → ")}`);
  for (const i of ex.inferred ?? [])
    lines.push(
      `inferred, not asked: router ${i.router} (BGPPeer ${i.bgpPeer}) runs no agent; its forwarding to ${i.prefix} is taken from the BGP routes the host before it holds`,
    );
  lines.push(ex.arrives ? "the packet arrives" : `the packet does not arrive: it fails at ${ex.failed!.at} (${ex.failed!.kind}): ${ex.failed!.reason}`);
  return lines.join("\n") + "\n";
}
