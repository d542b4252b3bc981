// Bundles each CNI plugin executable into one CommonJS file (run after `tsc -p .`):
//   dist/cni/tabby.cjs       the `tabby` network plugin
//   dist/cni/tabby-ipam.cjs  the `tabby-ipam` IPAM plugin
// A runtime starts a fresh plugin process for every ADD and DEL, so start-up is most of its cost:
// one CommonJS file is read and compiled once and never starts Node's ESM loader (which the ~40
// separate ES modules of dist/src/cni would), which is what `tabby cni install` points its wrappers
// at. The bundle keeps the modules' lazy loading (each verb initialises only what it imports).
// better-sqlite3 (a native addon) and etcd3 stay outside, loaded from this checkout's node_modules
// only when the verb opens that datastore. esbuild is a devDependency: without it (a production
// install) this script says so and exits 0, and the installer falls back to the ES module entries.
import { existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const from = join(root, "dist/src/cni");
const out = join(root, "dist/cni");

let esbuild;
try {
  esbuild = await import("esbuild");
} catch {
  console.error("build-cni: esbuild is not installed (npm ci installs it); the CNI plugins stay unbundled");
  process.exit(0);
}
if (!existsSync(join(from, "plugin-main.js"))) {
  console.error("build-cni: dist/src/cni/plugin-main.js is missing; run `npx tsc -p .` first");
  process.exit(1);
}
mkdirSync(out, { recursive: true });

for (const name of ["tabby", "tabby-ipam"]) {
  await esbuild.build({
    stdin: {
      contents: `import { runCniPlugin } from "./plugin-main.js";\nrunCniPlugin(${JSON.stringify(name)}).then((code) => { process.exitCode = code; });\n`,
      resolveDir: from,
      sourcefile: `${name}-bundle-entry.js`,
      loader: "js",
    },
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    // import() of a bundled module becomes a lazy initialiser call; of node:* a require().
    supported: { "dynamic-import": false },
    external: ["better-sqlite3", "etcd3", "koffi"],
    banner: { js: `// ${name} CNI plugin, bundled by scripts/build-cni.mjs from dist/src/cni; do not edit.` },
    outfile: join(out, `${name}.cjs`),
    logLevel: "warning",
  });
}
