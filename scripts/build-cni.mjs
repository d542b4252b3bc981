// Bundles each CNI plugin executable into one CommonJS file (run after `tsc -p .`):
//   dist/cni/tabby.cjs       the `tabby` network plugin
//   dist/cni/tabby-ipam.cjs  the `tabby-ipam` IPAM plugin
// A runtime starts a fresh plugin process for every ADD and DEL, so start-up is most of its cost:
// one CommonJS file is read and compiled once and never starts Node's ESM loader (which the ~40
// separate ES modules of dist/src/cni would), which is what `tabby cni install` points its wrappers
// at. The bundle keeps the modules' lazy loading (each verb initialises only what it imports).
// The native addons (koffi's, better-sqlite3's) and etcd3 stay outside, loaded from this
// checkout's (or the installed package's) node_modules only when the verb needs them. esbuild is a devDependency: without it (a
// production install) this script says so and exits 0, and the installer falls back to the ES
// module entries.
import { existsSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
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

// Native addons, found here once instead of by every plugin process: a bare `require("koffi")`
// searches node_modules directories and koffi's loader then probes per-platform packages, and
// better-sqlite3 finds its addon through the `bindings` package's search. Together about 15 ms of
// each ADD. The bundle requires the files this checkout resolves to, by paths relative to itself.
const requireHere = createRequire(join(root, "package.json"));
const nativeOf = (pattern) => Object.keys(requireHere.cache).find((k) => pattern.test(k));
requireHere("koffi");
const koffiNode = nativeOf(/koffi[^/]*\/[^/]+\/koffi\.node$/);
new (requireHere("better-sqlite3"))(":memory:").close();
const sqliteNode = nativeOf(/better-sqlite3\/(prebuilds\/[^/]+|build\/Release\/better_sqlite3)\.node$/);
if (!koffiNode || !sqliteNode) {
  console.error(`build-cni: cannot find the native modules (koffi: ${koffiNode}, better-sqlite3: ${sqliteNode})`);
  process.exit(1);
}
const fromBundle = (p) => "./" + relative(out, p);
/** Bare specifiers the bundle leaves outside, mapped to the files they resolve to here. */
// Installed from the package (`npm install -g tabby-*.tgz`) the layout below the package is the
// same, so the pinned path holds; where it does not (dependencies hoisted by another installer,
// another platform's build), a small shim falls back to the ordinary `require("koffi")`.
const pinnedKoffi = fromBundle(koffiNode);
const pinNative = {
  name: "pin-native",
  setup(b) {
    b.onResolve({ filter: /^koffi$/ }, (a) => (a.namespace === "pin" ? { path: "koffi", external: true } : { path: "koffi", namespace: "pin" }));
    b.onResolve({ filter: /\.node$/ }, (a) => ({ path: a.path, external: true }));
    b.onLoad({ filter: /^koffi$/, namespace: "pin" }, () => ({
      contents:
        `const { existsSync } = require("node:fs"); const { join } = require("node:path");\n` +
        `const pinned = join(__dirname, ${JSON.stringify(pinnedKoffi)});\n` +
        `module.exports = existsSync(pinned) ? require(${JSON.stringify(pinnedKoffi)}) : require("koffi");\n`,
      loader: "js",
      resolveDir: out,
    }));
  },
};

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
    target: "node22",
    // import() of a bundled module becomes a lazy initialiser call; of node:* a require().
    supported: { "dynamic-import": false },
    // better-sqlite3's JavaScript is bundled (a dozen files fewer to find and read at each start);
    // its addon is handed over by path (sqlite-open.ts), so its `bindings` search is never loaded.
    external: ["etcd3"],
    plugins: [pinNative],
    // sqlite-open.ts hands better-sqlite3 its addon (no `bindings` search).
    define: { __TABBY_SQLITE_ADDON__: JSON.stringify(fromBundle(sqliteNode)) },
    banner: { js: `// ${name} CNI plugin, bundled by scripts/build-cni.mjs from dist/src/cni; do not edit.` },
    outfile: join(out, `${name}.cjs`),
    // Less to read and parse at every start (a few ms); class names kept for errors' names.
    minify: true,
    keepNames: true,
    logLevel: "warning",
  });
}
