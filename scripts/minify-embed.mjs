// Writes server/assets/embed.min.js — what the server serves as /embed.js — from server/assets/embed.js, minified
// by esbuild (its licence banner kept). The minified file is committed so that building the server needs no Node;
// `--check` (run by scripts/test) fails when it is not what embed.js minifies to now.
// esbuild, not the minify-js crate: minify-js hoists globals into variables when the script loads (`Promise`,
// `Date.now`), so a page that patches them later (zone.js, fake clocks) would not see its patches used.
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { transformSync } from "esbuild";

const assets = join(dirname(fileURLToPath(import.meta.url)), "..", "server", "assets");
const source = readFileSync(join(assets, "embed.js"), "utf8");
const { code } = transformSync(source, { minify: true, target: "es2017", legalComments: "inline" });
const out = join(assets, "embed.min.js");
if (process.argv.includes("--check")) {
  if (readFileSync(out, "utf8") !== code) {
    console.error("server/assets/embed.min.js is not embed.js minified: run `node scripts/minify-embed.mjs`");
    process.exit(1);
  }
} else {
  writeFileSync(out, code);
}
