/** tabby's version: the `version` of the package.json this code was built from and ships with. */
import { readFileSync } from "node:fs";

let memo: string | undefined;

export function tabbyVersion(): string {
  memo ??= (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;
  return memo;
}
