// Builds web/dist from web/src: the page, one script bundle (the app and the ECharts modules it
// uses, minified), the style sheet and the icon. `--check` builds into a scratch directory and
// fails when the committed web/dist differs (what CI runs). The WebAssembly verifier
// (dist/verifier.wasm) is built by build-wasm.sh.
import { build } from "esbuild";
import { mkdtempSync, readFileSync, writeFileSync, copyFileSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const check = process.argv.includes("--check");
const out = check ? mkdtempSync(join(tmpdir(), "tm-web-")) : join(here, "dist");
mkdirSync(out, { recursive: true });

await build({
  entryPoints: [join(here, "src/main.js")],
  bundle: true,
  minify: true,
  format: "esm",
  target: ["chrome110", "firefox115", "safari16"],
  outfile: join(out, "app.js"),
  legalComments: "eof",
  // verifier.js reads the module from disk under Node (tests) through a dynamic `node:` import,
  // never taken in a browser.
  external: ["node:*"],
  charset: "utf8",
  logLevel: "warning",
});
await build({ entryPoints: [join(here, "src/app.css")], bundle: true, minify: true, outfile: join(out, "app.css"), logLevel: "warning" });
copyFileSync(join(here, "src/index.html"), join(out, "index.html"));
copyFileSync(join(here, "src/favicon.svg"), join(out, "favicon.svg"));

if (check) {
  let stale = [];
  for (const f of ["index.html", "app.js", "app.css", "favicon.svg"]) {
    const a = readFileSync(join(out, f));
    let b = null;
    try { b = readFileSync(join(here, "dist", f)); } catch {}
    if (!b || !a.equals(b)) stale.push(f);
  }
  rmSync(out, { recursive: true, force: true });
  if (stale.length) {
    console.error(`web/dist is not what web/src builds: ${stale.join(", ")} differ; run \`npm run build\` in web/ and commit web/dist`);
    process.exit(1);
  }
  console.log("web/dist is what web/src builds");
} else {
  const size = (f) => readFileSync(join(out, f)).length;
  console.log(`web/dist: app.js ${size("app.js")} B, app.css ${size("app.css")} B, index.html ${size("index.html")} B`);
}
