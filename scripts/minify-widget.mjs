// trunk's post_build hook (Trunk.toml), release builds only: minifies wasm-bindgen's js glue with esbuild (trunk's own
// minifier cannot parse it and leaves it as is) and updates its integrity hash in index.html to match.
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { transformSync } from "esbuild";

const dir = process.env.TRUNK_STAGING_DIR;
if (!dir) throw new Error("run by trunk: TRUNK_STAGING_DIR is not set");
if (process.env.TRUNK_PROFILE !== "release") process.exit(0);
const sri = (bytes) => "sha384-" + createHash("sha384").update(bytes).digest("base64");
const indexPath = join(dir, "index.html");
let index = readFileSync(indexPath, "utf8");
for (const name of readdirSync(dir).filter((f) => f.endsWith(".js"))) {
  const path = join(dir, name);
  const before = readFileSync(path);
  const { code } = transformSync(before.toString("utf8"), { minify: true, format: "esm", target: "es2020", legalComments: "none" });
  writeFileSync(path, code);
  index = index.split(sri(before)).join(sri(Buffer.from(code)));
}
writeFileSync(indexPath, index);
