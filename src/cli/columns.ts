/**
 * Plain text columns, as the CLI's tables print them (`node status`, `lab status`, `lab drill`,
 * `flows`, `selector`): each column as wide as its widest cell plus two spaces, no trailing
 * blanks, one line per row. Pure.
 */
export function columns(rows: readonly (readonly (string | undefined)[])[]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, (c ?? "").length)));
  return rows
    .map(
      (r) =>
        `${r
          .map((c, i) => (c ?? "").padEnd(widths[i]! + 2))
          .join("")
          .trimEnd()}\n`,
    )
    .join("");
}
