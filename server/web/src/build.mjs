// Builds the playground into ../dist, which is committed and embedded in
// the jail binary (server/web/web.go), so `go build` needs no node.
//
//   npm ci && npm run build
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";

// The sources the build reads; their digest goes into dist, and a Go test
// (web_test.go) recomputes it, so a change to a source that was not
// rebuilt fails the tests, which need no node.
export const sources = ["build.mjs", "index.html", "main.js", "package-lock.json", "package.json", "style.css"];

const out = new URL("../dist/", import.meta.url).pathname;
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const js = await build({
  entryPoints: { app: "main.js" },
  metafile: true,
  bundle: true,
  minify: true,
  format: "esm",
  // Each language's parser is a chunk of its own, loaded when chosen.
  splitting: true,
  chunkNames: "[name]-[hash]",
  target: ["es2020"],
  legalComments: "none",
  outdir: out,
  logLevel: "warning",
});
await build({ entryPoints: { app: "style.css" }, bundle: true, minify: true, outdir: out, logLevel: "warning" });
copyFileSync("index.html", out + "index.html");

// The bundled packages' licenses, which their terms ask to go with them.
const packages = new Set();
for (const input of Object.keys(js.metafile.inputs)) {
  const m = input.match(/^node_modules\/((?:@[^/]+\/)?[^/]+)\//);
  if (m) packages.add(m[1]);
}
let licenses = "The jail playground bundles these packages:\n";
for (const name of [...packages].sort()) {
  const dir = `node_modules/${name}/`;
  const pkg = JSON.parse(readFileSync(dir + "package.json", "utf8"));
  const file = readdirSync(dir).find((f) => /^licen[cs]e/i.test(f));
  licenses += `\n== ${name} ${pkg.version} (${pkg.license})\n\n`;
  licenses += file ? readFileSync(dir + file, "utf8").trim() + "\n" : "(no license file in the package)\n";
}
writeFileSync(out + "LICENSES.txt", licenses);

const digest = createHash("sha256");
for (const f of sources) digest.update(f + "\0").update(readFileSync(f)).update("\0");
writeFileSync(out + "sources.sha256", digest.digest("hex") + "\n");
for (const f of readdirSync(out).sort()) {
  const b = readFileSync(out + f);
  console.log(`${f.padEnd(28)} ${String(b.length).padStart(8)} bytes, ${String(gzipSync(b).length).padStart(7)} gzipped`);
}
