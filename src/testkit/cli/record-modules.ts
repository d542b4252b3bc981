/**
 * Preloaded with `node --import <this file>`: records every module the process loads (ES modules,
 * CommonJS files and node: builtins, through node:module's synchronous hooks) and, when the
 * process exits, writes their URLs one a line to the file named by TABBY_RECORD_MODULES, and Node's
 * own internal modules it loaded (process.moduleLoadList: what no hook sees, such as the bundled
 * undici) to that name + ".internal". Used to
 * check what a long-running command such as `tabby bgp run` carries (src/cli/lazy-load.test.ts)
 * and by the memory benches to list it. Test support only.
 */
import { registerHooks } from "node:module";
import { writeFileSync } from "node:fs";

const out = process.env["TABBY_RECORD_MODULES"];
if (out) {
  const seen = new Set<string>();
  registerHooks({
    load(url, context, nextLoad) {
      seen.add(url);
      return nextLoad(url, context);
    },
  });
  // a daemon stopped by SIGTERM stops cleanly and exits, so this runs for it too
  process.on("exit", () => {
    writeFileSync(out, [...seen].join("\n") + "\n");
    writeFileSync(`${out}.internal`, (process as unknown as { moduleLoadList: string[] }).moduleLoadList.join("\n") + "\n");
  });
}
