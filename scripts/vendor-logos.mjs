// Copies the brand logos the catalog names (`simpleIcon = "slug"`) from the simple-icons npm package (CC0) into
// server/assets/logos/<platform>.svg, coloured with the brand's colour. Run after adding catalog entries:
//   (cd scripts && npm install --no-save simple-icons && node vendor-logos.mjs)
import { readFileSync, readdirSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const pkgDir = join(dirname(fileURLToPath(import.meta.url)), "node_modules/simple-icons");
const version = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8")).version;
const data = JSON.parse(readFileSync(join(pkgDir, "data/simple-icons.json"), "utf8"));
const hex = new Map((Array.isArray(data) ? data : data.icons).map((i) => [i.slug, i.hex]));

const out = join(root, "server/assets/logos");
mkdirSync(out, { recursive: true });
let n = 0;
for (const file of readdirSync(join(root, "server/catalog")).sort()) {
  const text = readFileSync(join(root, "server/catalog", file), "utf8");
  const platform = /^platform = "([^"]+)"/m.exec(text)?.[1];
  const slug = /^simpleIcon = "([^"]+)"/m.exec(text)?.[1];
  if (!platform || !slug) continue;
  const svg = readFileSync(join(pkgDir, "icons", `${slug}.svg`), "utf8");
  writeFileSync(join(out, `${platform}.svg`), svg.replace("<svg ", `<svg fill="#${hex.get(slug) ?? "444"}" `));
  n++;
}
writeFileSync(join(out, "LICENSE.md"),
  `Brand logos from simple-icons ${version} (https://simpleicons.org), released under CC0 1.0.\n` +
  "The marks themselves belong to their owners and are used here only to name their services.\n");
console.log(`vendored ${n} logos from simple-icons ${version}`);
