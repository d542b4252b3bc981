/**
 * Where the CNI plugins' code is, for whatever makes a runtime run them (`tabby cni install`, the
 * lab): the bundle scripts/build-cni.mjs builds (dist/cni/NAME.cjs, one CommonJS file: a plugin
 * process starts for every ADD and DEL, and one file starts far faster than the ES modules it is
 * made of) or, without a bundle, the ES module entry (dist/src/cni/NAME-main.js).
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

export type CniPluginName = "tabby" | "tabby-ipam";

/** The bundle of a plugin (dist/cni/NAME.cjs) and its ES module entry (dist/src/cni/NAME-main.js). */
export function pluginFiles(name: CniPluginName): { bundle: string; module: string } {
  return {
    bundle: fileURLToPath(new URL(`../../cni/${name}.cjs`, import.meta.url)),
    module: fileURLToPath(new URL(`./${name}-main.js`, import.meta.url)),
  };
}

/** What a wrapper should run: the bundle when it has been built, else the ES module entry. */
export function pluginEntry(name: CniPluginName): { entry: string; bundled: boolean } {
  const { bundle, module } = pluginFiles(name);
  return existsSync(bundle) ? { entry: bundle, bundled: true } : { entry: module, bundled: false };
}
